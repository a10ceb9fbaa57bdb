using System.Buffers.Binary;

namespace SendWorkflows.Workflow;

/// <summary>
/// Ids for records made together at one instant: version 7 UUIDs (RFC 9562 §5.7) that increase in
/// the order they are asked for. The 48-bit timestamp is the instant; the 62 bits after the variant
/// start at a random value below 2^61 and go up by one per id, RFC 9562 §6.2's monotonic random
/// method. <see cref="Guid.CreateVersion7(DateTimeOffset)"/> alone gives ids made in the same
/// millisecond in random order.
/// </summary>
/// <remarks>
/// People enrolled in one batch are usually a school's staff, and their progress tends to arrive
/// together too. With ids in enrolment order, their rows sit side by side in every index that starts
/// with the enrolment id (the enrolments, their events, their statements), so a later batch of
/// progress for them rewrites a few index pages instead of one page per person.
/// </remarks>
public static class TimeOrderedIds
{
    /// <summary>The largest number of ids one call may ask for: far below the 2^61 the counter has room for.</summary>
    public const int MaxCount = 1 << 24;

    public static Guid[] For(DateTimeOffset at, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        var ids = new Guid[count];
        if (count == 0)
        {
            return ids;
        }

        Span<byte> bytes = stackalloc byte[16];
        Guid.CreateVersion7(at).TryWriteBytes(bytes, bigEndian: true, out _);
        // Variant bits 10, then a random start with its top bit clear, so adding up to 2^61 cannot carry into the variant.
        var low = 0x8000_0000_0000_0000UL | (BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]) & 0x1FFF_FFFF_FFFF_FFFFUL);
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], low + (ulong)i);
            ids[i] = new Guid(bytes, bigEndian: true);
        }

        return ids;
    }
}
