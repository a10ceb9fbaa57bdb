using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>The calls a school system makes, as the harness needs them: publishing a programme, enrolling people in batches, reporting progress.</summary>
public static class Api
{
    /// <summary>The bundled programme and its modules (src/SendWorkflows/Programmes/Defaults).</summary>
    public const string Programme = "send-inclusion-core";

    public static readonly string[] Modules =
    [
        "inclusion-send-code", "identification", "adaptive-teaching", "speech-language-communication",
        "visual-impairment", "assistive-technology", "parents-and-carers",
    ];

    public const string School = "100004";

    /// <summary>A JSON array of enrolment bodies for people <paramref name="from"/> … from + count − 1.</summary>
    public static byte[] EnrolmentBatch(string programme, int from, int count, string prefix = "B")
    {
        using var buffer = new MemoryStream(count * 200);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            for (var i = from; i < from + count; i++)
            {
                var n = i.ToString(CultureInfo.InvariantCulture);
                json.WriteStartObject();
                json.WriteString("programmeId", programme);
                json.WriteString("schoolUrn", School);
                json.WriteStartObject("staff");
                json.WriteString("externalId", $"{prefix}-{n}");
                json.WriteString("givenName", "Bench");
                json.WriteString("familyName", $"Person {n}");
                json.WriteString("email", $"{prefix.ToLowerInvariant()}{n}@school.example.org");
                json.WriteString("role", "teacher");
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return buffer.ToArray();
    }

    /// <summary>Enrols a prepared batch and returns the people's enrolment ids, in order; every row must succeed.</summary>
    public static async Task<List<Guid>> EnrolAsync(HttpClient client, byte[] batch)
    {
        using var content = new ByteArrayContent(batch);
        content.Headers.ContentType = new("application/json");
        using var answer = await client.PostAsync(new Uri("/api/v1/enrolments/batch", UriKind.Relative), content);
        var body = await answer.Content.ReadAsStringAsync();
        if (!answer.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"batch enrolment answered {(int)answer.StatusCode}: {Clip(body)}");
        }

        var ids = new List<Guid>();
        foreach (var row in JsonNode.Parse(body)!["results"]!.AsArray())
        {
            ids.Add(row?["id"]?.GetValue<Guid>() ?? throw new InvalidOperationException($"a batch row failed: {Clip(row?.ToJsonString() ?? "")}"));
        }

        return ids;
    }

    /// <summary>Enrols people from … to in batches of this size.</summary>
    public static async Task<List<Guid>> EnrolManyAsync(HttpClient client, string programme, int from, int count, int batchSize, string prefix = "B")
    {
        var ids = new List<Guid>(count);
        for (var start = from; start < from + count; start += batchSize)
        {
            ids.AddRange(await EnrolAsync(client, EnrolmentBatch(programme, start, Math.Min(batchSize, from + count - start), prefix)));
        }

        return ids;
    }

    public static async Task PublishAsync(HttpClient client, JsonObject programme)
    {
        using var answer = await client.PutAsJsonAsync(new Uri($"/api/v1/programmes/{programme["id"]}", UriKind.Relative), programme);
        if (!answer.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"publishing {programme["id"]} answered {(int)answer.StatusCode}: {Clip(await answer.Content.ReadAsStringAsync())}");
        }
    }

    /// <summary>A module completion, as <c>POST /api/v1/enrolments/{id}/modules/{module}/completion</c>.</summary>
    public static HttpRequestMessage Completion(Guid enrolment, string module, DateTimeOffset at) =>
        new(HttpMethod.Post, new Uri($"/api/v1/enrolments/{enrolment}/modules/{module}/completion", UriKind.Relative))
        {
            Content = new StringContent($$"""{"completedAt":"{{Iso(at)}}"}""", Encoding.UTF8, "application/json"),
        };

    /// <summary>An xAPI <c>completed</c> statement for one module of one enrolment (by registration), with its own id.</summary>
    public static void WriteCompletedStatement(Utf8JsonWriter json, Uri publicBase, string programme, Guid enrolment, string module, DateTimeOffset at,
        Guid? id = null)
    {
        json.WriteStartObject();
        json.WriteString("id", id ?? Guid.NewGuid());
        json.WriteStartObject("actor");
        json.WriteString("mbox", "mailto:learner@school.example.org");
        json.WriteEndObject();
        json.WriteStartObject("verb");
        json.WriteString("id", "http://adlnet.gov/expapi/verbs/completed");
        json.WriteEndObject();
        json.WriteStartObject("object");
        json.WriteString("id", $"{publicBase.ToString().TrimEnd('/')}/programmes/{programme}/modules/{module}");
        json.WriteString("objectType", "Activity");
        json.WriteEndObject();
        json.WriteStartObject("context");
        json.WriteString("registration", enrolment);
        json.WriteEndObject();
        json.WriteString("timestamp", Iso(at));
        json.WriteEndObject();
    }

    /// <summary>One completed statement as the text the service stores for it.</summary>
    public static string CompletedStatementJson(Guid id, Uri publicBase, string programme, Guid enrolment, string module, DateTimeOffset at)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            WriteCompletedStatement(json, publicBase, programme, enrolment, module, at, id);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Clip(string text) => text.Length > 400 ? text[..400] + "…" : text;
}
