using System.Buffers.Binary;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Workflow;

public sealed class TimeOrderedIdsTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 9, 30, 15, 123, TimeSpan.Zero);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5_000)]
    public void ids_are_version_7_stamped_with_the_instant_and_increase_in_the_order_asked_for(int count)
    {
        var ids = TimeOrderedIds.For(At, count);

        Assert.Equal(count, ids.Length);
        Assert.All(ids, id =>
        {
            Assert.Equal(7, id.Version);
            Assert.Equal(0b10, id.Variant >> 2);
            Assert.Equal(At.ToUnixTimeMilliseconds(), UnixMilliseconds(id));
        });
        // Increasing as text (how SQLite compares them) and as bytes (how PostgreSQL compares uuid).
        var text = ids.Select(i => i.ToString("D")).ToList();
        Assert.Equal(text.Order(StringComparer.Ordinal), text);
        Assert.Equal(count, text.Distinct().Count());
        var bytes = ids.Select(i => Convert.ToHexString(i.ToByteArray(bigEndian: true))).ToList();
        Assert.Equal(bytes.Order(StringComparer.Ordinal), bytes);
    }

    [Fact]
    public void two_sets_made_at_the_same_instant_do_not_share_an_id()
    {
        var first = TimeOrderedIds.For(At, 1_000);
        var second = TimeOrderedIds.For(At, 1_000);

        Assert.Empty(first.Intersect(second));
    }

    [Fact]
    public void a_later_instant_sorts_after_an_earlier_one()
    {
        var earlier = TimeOrderedIds.For(At, 10);
        var later = TimeOrderedIds.For(At.AddMilliseconds(1), 10);

        Assert.True(string.CompareOrdinal(earlier[^1].ToString(), later[0].ToString()) < 0);
    }

    [Fact]
    public void asking_for_none_gives_none_and_a_count_out_of_range_is_refused()
    {
        Assert.Empty(TimeOrderedIds.For(At, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TimeOrderedIds.For(At, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TimeOrderedIds.For(At, TimeOrderedIds.MaxCount + 1));
    }

    /// <summary>RFC 9562 §5.7: the first 48 bits, big-endian, are the Unix time in milliseconds.</summary>
    private static long UnixMilliseconds(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        return (long)(BinaryPrimitives.ReadUInt64BigEndian(bytes) >> 16);
    }
}
