using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Xapi;

namespace SendWorkflows.Tests.Xapi;

/// <summary>
/// The content hash decides whether a statement sent again under a stored id is the same one. Hashes are
/// stored, so the canonical form must never drift: every statement here must hash exactly as the first
/// implementation (kept below, built on JsonNode) did, whatever shortcuts the service's own takes.
/// </summary>
public sealed class StatementComparisonTests
{
    public static TheoryData<string> Statements() =>
    [
        """{"id":"6f2c1b9a-1d0e-4b7a-9c55-0a4e1f7d2c11","actor":{"objectType":"Agent","account":{"homePage":"https://send.example.org/schools/100004","name":"B-1"}},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://send.example.org/programmes/send-inclusion-core/modules/identification","objectType":"Activity"},"timestamp":"2026-11-22T09:30:00.000Z"}""",
        """{"actor":{"mbox":"mailto:Ann.Smith@School.EXAMPLE.org","name":"Ann"},"verb":{"id":"http://adlnet.gov/expapi/verbs/passed","display":{"en-GB":"passed","fr":"réussi"}},"object":{"id":"urn:x:1","definition":{"name":{"en":"One"}}},"result":{"score":{"scaled":0.95,"raw":95,"min":0,"max":1.0E2},"success":true,"completion":true,"duration":"PT1H2M","extensions":{"https://example.org/z":{"b":[3,2,{"y":null,"x":"\u00e9\u2028"}],"a":"\"quoted\" <tag> &"},"https://example.org/a":-0.0}},"context":{"registration":"AB0D2F44-1111-4C3B-8A2E-0E7F9C2B4D11","language":"EN-gb","platform":"Moodle","contextActivities":{"parent":{"id":"urn:p:1","definition":{}},"grouping":[{"id":"urn:g:2"},{"id":"urn:g:1"}]},"statement":{"objectType":"StatementRef","id":"CCDD0000-1111-4C3B-8A2E-0E7F9C2B4D11"},"instructor":{"objectType":"Agent","mbox_sha1sum":"ABCDEF0123456789ABCDEF0123456789ABCDEF01"},"extensions":{"k":{"ü":1,"u":2,"\ud83d\ude00":3,"\uffff":4}}},"timestamp":"2026-11-22T10:30:00+01:00","stored":"2026-11-22T10:30:00Z","authority":{"mbox":"mailto:lrs@example.org"},"version":"1.0.3"}""",
        """{"actor":{"objectType":"Group","name":"Team","member":[{"mbox":"mailto:b@Example.org","name":"B"},{"objectType":"Agent","account":{"name":"z","homePage":"https://a.example"}},{"mbox_sha1sum":"00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"},{"name":"A","mbox":"mailto:a@EXAMPLE.org"}]},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"objectType":"Agent","mbox":"mailto:Teacher@EXAMPLE.ORG"},"context":{"team":{"objectType":"Group","member":[{"openid":"https://b.example/"},{"openid":"https://a.example/"}]}}}""",
        """{"actor":{"openid":"https://id.example/x"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:x@Y.org"},"verb":{"id":"urn:v","display":{"en":"v"}},"object":{"objectType":"StatementRef","id":"AAAAAAAA-1111-4C3B-8A2E-0E7F9C2B4D11"},"timestamp":"2026-01-02T03:04:05.678901+05:30","context":{"contextActivities":{"other":{"id":"urn:o"}}},"result":{"response":"tab\tnewline\n"}},"attachments":[{"usageType":"urn:u","display":{"en":"a"},"contentType":"text/plain","length":1,"sha2":"00"}]}""",
        """{"actor":{"mbox":"mailto:nodomain"},"verb":{"id":"urn:v"},"object":{"objectType":"SubStatement","actor":{"account":{"homePage":"https://h","name":"n"}},"verb":{"id":"urn:w"},"object":{"id":"urn:a"},"timestamp":"not a time"},"result":{"score":{"raw":1.50,"scaled":1e-1}}}""",
    ];

    [Theory]
    [MemberData(nameof(Statements))]
    public void a_statement_hashes_exactly_as_stored_hashes_were_made(string json)
    {
        using var document = JsonDocument.Parse(json);

        Assert.Equal(PreviousContentHash(document.RootElement), StatementComparison.ContentHash(document.RootElement));
    }

    [Fact]
    public void the_same_statement_written_differently_has_the_same_hash()
    {
        var a = Hash("""
            {"id":"6f2c1b9a-1d0e-4b7a-9c55-0a4e1f7d2c11","actor":{"objectType":"Agent","mbox":"mailto:ann@school.example.org"},
             "verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-GB":"completed"}},
             "object":{"id":"https://send.example.org/programmes/send-inclusion-core/modules/identification","objectType":"Activity","definition":{"name":{"en":"Identification"}}},
             "context":{"registration":"ab0d2f44-1111-4c3b-8a2e-0e7f9c2b4d11","contextActivities":{"parent":[{"id":"urn:p"}]}},
             "actor2":null,"result":{"score":{"scaled":0.5,"raw":5}},
             "timestamp":"2026-11-22T09:30:00.000Z"}
            """);
        // Keys in another order, other whitespace, no id, the verb's display and the activity's definition
        // gone, the email domain and registration in capitals, the parent not in an array, another timestamp.
        var b = Hash("""
            {  "timestamp" : "2026-11-22T10:30:00+01:00",
               "result":{"score":{"raw":5,"scaled":0.5}}, "actor2":null,
               "context":{"contextActivities":{"parent":{"id":"urn:p","definition":{}}},"registration":"AB0D2F44-1111-4C3B-8A2E-0E7F9C2B4D11"},
               "object":{"objectType":"Activity","id":"https://send.example.org/programmes/send-inclusion-core/modules/identification"},
               "verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},
               "actor":{"mbox":"mailto:ann@SCHOOL.example.ORG"},
               "version":"1.0.3", "stored":"2026-11-23T00:00:00Z" }
            """);

        Assert.Equal(a, b);
    }

    [Fact]
    public void a_group_is_the_same_group_whatever_the_order_of_its_members()
    {
        var a = Hash("""{"actor":{"objectType":"Group","member":[{"mbox":"mailto:a@x.org"},{"mbox":"mailto:b@x.org"}]},"verb":{"id":"urn:v"},"object":{"id":"urn:a"}}""");
        var b = Hash("""{"actor":{"member":[{"mbox":"mailto:b@X.org"},{"objectType":"Agent","mbox":"mailto:a@x.org"}],"objectType":"Group"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"}}""");

        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("""{"actor":{"mbox":"mailto:Ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"}}""")] // the local part of an email keeps its case
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:w"},"object":{"id":"urn:a"}}""")]
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:b"}}""")]
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"result":{"success":true}}""")]
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"result":{"score":{"raw":5.0}}}""")]
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"context":{"platform":"Moodle"}}""")]
    [InlineData("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"timestamp":"2026-11-22T09:30:00.001Z"}}""")]
    public void a_statement_that_differs_in_content_has_another_hash(string other)
    {
        var statement = Hash("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"result":{"score":{"raw":5}}}""");
        var sub = Hash("""{"actor":{"mbox":"mailto:ann@x.org"},"verb":{"id":"urn:v"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@x.org"},"verb":{"id":"urn:v"},"object":{"id":"urn:a"},"timestamp":"2026-11-22T09:30:00.000Z"}}""");

        Assert.NotEqual(statement, Hash(other));
        Assert.NotEqual(sub, Hash(other));
    }

    private static string Hash(string json)
    {
        using var document = JsonDocument.Parse(json);
        return StatementComparison.ContentHash(document.RootElement);
    }

    // The first implementation, kept as the definition of the canonical form that stored hashes were made with.
    private static string PreviousContentHash(JsonElement statement)
    {
        var canonical = PreviousStatement(JsonNode.Parse(statement.GetRawText())!.AsObject(), subStatement: false);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteSorted(canonical, writer);
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }

    private static JsonObject PreviousStatement(JsonObject statement, bool subStatement)
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
            "SubStatement" => PreviousStatement(value, subStatement: true),
            "StatementRef" => StatementRef(value),
            _ => value.DeepClone(),
        };

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

    private static string Mailbox(string mbox)
    {
        var at = mbox.LastIndexOf('@');
        return at < 0 ? mbox : mbox[..at] + mbox[at..].ToLowerInvariant();
    }

    private static string? Instant(JsonNode? value) =>
        value?.GetValue<string>() is { } text && StatementReader.ParseTimestamp(text) is { } at
            ? at.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture)
            : value?.GetValue<string>();

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
