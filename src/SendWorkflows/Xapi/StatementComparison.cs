using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace SendWorkflows.Xapi;

/// <summary>
/// Whether a statement sent again under a stored id is the same statement (xAPI 1.0.3 §2.3.1,
/// "Statement Comparision Requirements"): differences a learning record store could itself have
/// made, or that the specification places outside the statement, are ignored — the id, authority,
/// stored, version and attachments, a verb's display, activity definitions, the order of a group's
/// members, a single context activity versus an array of one, the case of an email domain, and how a
/// timestamp is written. Every other difference counts. The content is reduced to a canonical form
/// with sorted keys and hashed; the timestamp is compared apart (see <see cref="SameTimestamp"/>).
/// </summary>
/// <remarks>
/// The canonical form is written straight from the parsed statement, without building a copy of it.
/// Its bytes are those of every hash already stored, so a statement stored before keeps comparing equal:
/// keys in ordinal order at every level, strings and names written by <see cref="Utf8JsonWriter"/>'s
/// default escaping, numbers as they were written, and a group's members ordered by their canonical
/// JSON with keys as they came.
/// </remarks>
public static class StatementComparison
{
    [ThreadStatic]
    private static Canonical? cached;

    public static string ContentHash(JsonElement statement)
    {
        var canonical = cached ?? new Canonical();
        cached = null;
        try
        {
            Statement(statement, canonical.Start(), subStatement: false, sorted: true);
            var bytes = canonical.Finish();
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(bytes, hash);
            return Convert.ToHexStringLower(hash);
        }
        finally
        {
            cached = canonical;
        }
    }

    /// <summary>
    /// The store sets a timestamp when a statement comes without one, so a timestamp present on one side
    /// only is a difference the store could have made; two timestamps must be the same instant, to the millisecond.
    /// </summary>
    public static bool SameTimestamp(DateTimeOffset? stored, DateTimeOffset? received) =>
        stored is null || received is null || stored.Value.ToUnixTimeMilliseconds() == received.Value.ToUnixTimeMilliseconds();

    /// <summary>A reusable buffer and writer: one per thread, so hashing a statement allocates next to nothing.</summary>
    private sealed class Canonical
    {
        private readonly ArrayBufferWriter<byte> buffer = new(1024);
        private readonly Utf8JsonWriter writer;

        public Canonical() => writer = new Utf8JsonWriter(buffer);

        public Utf8JsonWriter Start()
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            return writer;
        }

        public ReadOnlySpan<byte> Finish()
        {
            writer.Flush();
            return buffer.WrittenSpan;
        }
    }

    /// <summary>How one property's value is reduced, by where it is found.</summary>
    private delegate void ValueWriter(JsonElement value, string name, Utf8JsonWriter writer, bool sorted);

    private static void Statement(JsonElement statement, Utf8JsonWriter writer, bool subStatement, bool sorted)
    {
        if (subStatement)
        {
            Object(statement, writer, sorted, KeptInSubStatement, SubStatementValue);
        }
        else
        {
            Object(statement, writer, sorted, KeptInStatement, StatementValue);
        }
    }

    private static bool KeptInStatement(string name) =>
        name is not ("id" or "authority" or "stored" or "version" or "attachments" or "timestamp");

    private static bool KeptInSubStatement(string name) =>
        name is not ("id" or "authority" or "stored" or "version" or "attachments");

    private static void StatementValue(JsonElement value, string name, Utf8JsonWriter writer, bool sorted) => StatementPart(value, name, writer, sorted);

    private static void SubStatementValue(JsonElement value, string name, Utf8JsonWriter writer, bool sorted)
    {
        if (name == "timestamp")
        {
            Instant(value, writer);
        }
        else
        {
            StatementPart(value, name, writer, sorted);
        }
    }

    private static void StatementPart(JsonElement value, string name, Utf8JsonWriter writer, bool sorted)
    {
        switch (name)
        {
            case "actor":
                AgentOrGroup(value, writer, sorted);
                break;
            case "verb":
                writer.WriteStartObject();
                writer.WritePropertyName("id");
                value.GetProperty("id").WriteTo(writer);
                writer.WriteEndObject();
                break;
            case "object":
                StatementObject(value, writer, sorted);
                break;
            case "context":
                Object(value, writer, sorted, static _ => true, ContextValue);
                break;
            default:
                Copy(value, writer, sorted);
                break;
        }
    }

    private static void StatementObject(JsonElement value, Utf8JsonWriter writer, bool sorted)
    {
        var objectType = value.TryGetProperty("objectType", out var type) && type.ValueKind != JsonValueKind.Null ? type.GetString() : null;
        switch (objectType ?? "Activity")
        {
            case "Activity":
                Activity(value, writer);
                break;
            case "Agent" or "Group":
                AgentOrGroup(value, writer, sorted);
                break;
            case "SubStatement":
                Statement(value, writer, subStatement: true, sorted);
                break;
            case "StatementRef":
                StatementRef(value, writer, sorted);
                break;
            default:
                Copy(value, writer, sorted);
                break;
        }
    }

    /// <summary>An activity is its id: the definition is metadata about the activity, not part of the statement.</summary>
    private static void Activity(JsonElement value, Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("id");
        value.GetProperty("id").WriteTo(writer);
        writer.WriteEndObject();
    }

    private static void StatementRef(JsonElement value, Utf8JsonWriter writer, bool sorted)
    {
        var id = value.GetProperty("id").GetString()!.ToLowerInvariant();
        writer.WriteStartObject();
        if (sorted)
        {
            writer.WriteString("id", id);
            writer.WriteString("objectType", "StatementRef");
        }
        else
        {
            writer.WriteString("objectType", "StatementRef");
            writer.WriteString("id", id);
        }

        writer.WriteEndObject();
    }

    private static void AgentOrGroup(JsonElement value, Utf8JsonWriter writer, bool sorted) =>
        Object(value, writer, sorted,
            static _ => true,
            AgentValue,
            skip: static (name, item) => name == "objectType" && item.GetString() == "Agent");

    private static void AgentValue(JsonElement item, string name, Utf8JsonWriter writer, bool sorted)
    {
        switch (name)
        {
            case "mbox":
                writer.WriteStringValue(Mailbox(item.GetString()!));
                break;
            case "mbox_sha1sum":
                writer.WriteStringValue(item.GetString()!.ToLowerInvariant());
                break;
            case "member":
                Members(item, writer, sorted);
                break;
            default:
                Copy(item, writer, sorted);
                break;
        }
    }

    /// <summary>
    /// A group's members in a canonical order whatever order they came in: ordered by each one's canonical
    /// JSON with its keys as they came (the order every stored hash was made with).
    /// </summary>
    private static void Members(JsonElement members, Utf8JsonWriter writer, bool sorted)
    {
        var ordered = members.EnumerateArray()
            .Select(m => (Member: m, Key: Json(w => AgentOrGroup(m, w, sorted: false))))
            .OrderBy(m => m.Key, StringComparer.Ordinal)
            .ToList();
        writer.WriteStartArray();
        foreach (var (member, _) in ordered)
        {
            AgentOrGroup(member, writer, sorted);
        }

        writer.WriteEndArray();
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void ContextValue(JsonElement item, string name, Utf8JsonWriter writer, bool sorted)
    {
        switch (name)
        {
            case "registration" or "language":
                writer.WriteStringValue(item.GetString()!.ToLowerInvariant());
                break;
            case "instructor" or "team":
                AgentOrGroup(item, writer, sorted);
                break;
            case "statement":
                StatementRef(item, writer, sorted);
                break;
            case "contextActivities":
                Object(item, writer, sorted, static _ => true, ContextActivities);
                break;
            default:
                Copy(item, writer, sorted);
                break;
        }
    }

    /// <summary>A single context activity is the same as an array of one.</summary>
    private static void ContextActivities(JsonElement item, string name, Utf8JsonWriter writer, bool sorted)
    {
        writer.WriteStartArray();
        if (item.ValueKind == JsonValueKind.Array)
        {
            foreach (var activity in item.EnumerateArray())
            {
                Activity(activity, writer);
            }
        }
        else
        {
            Activity(item, writer);
        }

        writer.WriteEndArray();
    }

    /// <summary>Any other value as it came, with its objects' keys in ordinal order.</summary>
    private static void Copy(JsonElement value, Utf8JsonWriter writer, bool sorted)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                Object(value, writer, sorted, static _ => true, CopyValue);
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    Copy(item, writer, sorted);
                }

                writer.WriteEndArray();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

    private static void CopyValue(JsonElement item, string name, Utf8JsonWriter writer, bool sorted) => Copy(item, writer, sorted);

    /// <summary>
    /// An object whose kept properties are each written by <paramref name="write"/>, in ordinal key order
    /// when <paramref name="sorted"/>, else as they came.
    /// </summary>
    private static void Object(JsonElement value, Utf8JsonWriter writer, bool sorted, Func<string, bool> keep, ValueWriter write,
        Func<string, JsonElement, bool>? skip = null)
    {
        writer.WriteStartObject();
        if (sorted)
        {
            // Objects in statements have a handful of keys: a small array sorted in place.
            var properties = ArrayPool<(string Name, JsonElement Value)>.Shared.Rent(Math.Max(value.GetPropertyCount(), 1));
            var count = 0;
            try
            {
                foreach (var property in value.EnumerateObject())
                {
                    var name = property.Name;
                    if (keep(name) && (skip is null || !skip(name, property.Value)))
                    {
                        properties[count++] = (name, property.Value);
                    }
                }

                var kept = properties.AsSpan(0, count);
                kept.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                foreach (var (name, item) in kept)
                {
                    writer.WritePropertyName(name);
                    write(item, name, writer, sorted);
                }
            }
            finally
            {
                properties.AsSpan(0, count).Clear();
                ArrayPool<(string, JsonElement)>.Shared.Return(properties);
            }
        }
        else
        {
            foreach (var property in value.EnumerateObject())
            {
                var name = property.Name;
                if (keep(name) && (skip is null || !skip(name, property.Value)))
                {
                    writer.WritePropertyName(name);
                    write(property.Value, name, writer, sorted);
                }
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>The domain of an email address is case-insensitive; the local part is not.</summary>
    private static string Mailbox(string mbox)
    {
        var at = mbox.LastIndexOf('@');
        return at < 0 ? mbox : mbox[..at] + mbox[at..].ToLowerInvariant();
    }

    private static void Instant(JsonElement value, Utf8JsonWriter writer)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            writer.WriteNullValue();
            return;
        }

        var text = value.GetString()!;
        writer.WriteStringValue(StatementReader.ParseTimestamp(text) is { } at
            ? at.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
            : text);
    }
}
