using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

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
public static class StatementComparison
{
    public static string ContentHash(JsonElement statement)
    {
        var canonical = Statement(JsonNode.Parse(statement.GetRawText())!.AsObject(), subStatement: false);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteSorted(canonical, writer);
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }

    /// <summary>
    /// The store sets a timestamp when a statement comes without one, so a timestamp present on one side
    /// only is a difference the store could have made; two timestamps must be the same instant, to the millisecond.
    /// </summary>
    public static bool SameTimestamp(DateTimeOffset? stored, DateTimeOffset? received) =>
        stored is null || received is null || stored.Value.ToUnixTimeMilliseconds() == received.Value.ToUnixTimeMilliseconds();

    private static JsonObject Statement(JsonObject statement, bool subStatement)
    {
        var result = new JsonObject();
        foreach (var (name, value) in statement)
        {
            switch (name)
            {
                case "id" or "authority" or "stored" or "version" or "attachments":
                    break;
                case "timestamp" when !subStatement:
                    break;
                case "timestamp":
                    result[name] = Instant(value);
                    break;
                case "actor":
                    result[name] = AgentOrGroup(value!.AsObject());
                    break;
                case "verb":
                    result[name] = new JsonObject { ["id"] = value!["id"]!.DeepClone() };
                    break;
                case "object":
                    result[name] = StatementObject(value!.AsObject());
                    break;
                case "context":
                    result[name] = Context(value!.AsObject());
                    break;
                default:
                    result[name] = value?.DeepClone();
                    break;
            }
        }

        return result;
    }

    private static JsonNode StatementObject(JsonObject value) =>
        (value["objectType"]?.GetValue<string>() ?? "Activity") switch
        {
            "Activity" => Activity(value),
            "Agent" or "Group" => AgentOrGroup(value),
            "SubStatement" => Statement(value, subStatement: true),
            "StatementRef" => StatementRef(value),
            _ => value.DeepClone(),
        };

    /// <summary>An activity is its id: the definition is metadata about the activity, not part of the statement.</summary>
    private static JsonObject Activity(JsonObject value) => new() { ["id"] = value["id"]!.DeepClone() };

    private static JsonObject StatementRef(JsonObject value) =>
        new() { ["objectType"] = "StatementRef", ["id"] = value["id"]!.GetValue<string>().ToLowerInvariant() };

    private static JsonObject AgentOrGroup(JsonObject value)
    {
        var result = new JsonObject();
        foreach (var (name, item) in value)
        {
            switch (name)
            {
                case "objectType" when item!.GetValue<string>() == "Agent":
                    break;
                case "mbox":
                    result[name] = Mailbox(item!.GetValue<string>());
                    break;
                case "mbox_sha1sum":
                    result[name] = item!.GetValue<string>().ToLowerInvariant();
                    break;
                case "member":
                    result[name] = new JsonArray(item!.AsArray()
                        .Select(m => AgentOrGroup(m!.AsObject()))
                        .OrderBy(m => m.ToJsonString(), StringComparer.Ordinal)
                        .Select(JsonNode (m) => m)
                        .ToArray());
                    break;
                default:
                    result[name] = item?.DeepClone();
                    break;
            }
        }

        return result;
    }

    private static JsonObject Context(JsonObject value)
    {
        var result = new JsonObject();
        foreach (var (name, item) in value)
        {
            result[name] = name switch
            {
                "registration" => item!.GetValue<string>().ToLowerInvariant(),
                "language" => item!.GetValue<string>().ToLowerInvariant(),
                "instructor" or "team" => AgentOrGroup(item!.AsObject()),
                "statement" => StatementRef(item!.AsObject()),
                "contextActivities" => ContextActivities(item!.AsObject()),
                _ => item?.DeepClone(),
            };
        }

        return result;
    }

    private static JsonObject ContextActivities(JsonObject value)
    {
        var result = new JsonObject();
        foreach (var (name, item) in value)
        {
            var activities = item is JsonArray array ? array.Select(a => a!.AsObject()) : [item!.AsObject()];
            result[name] = new JsonArray(activities.Select(JsonNode (a) => Activity(a)).ToArray());
        }

        return result;
    }

    /// <summary>The domain of an email address is case-insensitive; the local part is not.</summary>
    private static string Mailbox(string mbox)
    {
        var at = mbox.LastIndexOf('@');
        return at < 0 ? mbox : mbox[..at] + mbox[at..].ToLowerInvariant();
    }

    private static string? Instant(JsonNode? value) =>
        value?.GetValue<string>() is { } text && StatementReader.ParseTimestamp(text) is { } at
            ? at.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture)
            : value?.GetValue<string>();

    /// <summary>JSON with every object's keys in ordinal order, so equal content writes equal bytes.</summary>
    private static void WriteSorted(JsonNode? node, Utf8JsonWriter writer)
    {
        switch (node)
        {
            case JsonObject obj:
                writer.WriteStartObject();
                foreach (var (name, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(name);
                    WriteSorted(value, writer);
                }

                writer.WriteEndObject();
                break;
            case JsonArray array:
                writer.WriteStartArray();
                foreach (var item in array)
                {
                    WriteSorted(item, writer);
                }

                writer.WriteEndArray();
                break;
            case null:
                writer.WriteNullValue();
                break;
            default:
                node.WriteTo(writer);
                break;
        }
    }
}
