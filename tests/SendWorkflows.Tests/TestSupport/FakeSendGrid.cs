using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// A stand-in for the SendGrid v3 Mail Send endpoint on loopback: it checks every request against
/// the rules of the public API reference (Bearer key, 1 to 1,000 personalizations, each with a
/// recipient, each address once per request, text/plain before text/html, at most 10 categories,
/// string custom_args and substitutions of at most 10,000 bytes per personalization) and answers
/// with the responses the test queues (202 when none is queued). <see cref="Delivered"/> does what
/// SendGrid does with a request: one message per personalization, substitutions applied.
/// </summary>
public sealed class FakeSendGrid : IAsyncDisposable
{
    public const string ApiKey = "SG.test-key";
    private WebApplication _app = null!;
    private readonly ConcurrentQueue<(int Status, string Body, Dictionary<string, string> Headers)> _responses = new();


    public List<JsonElement> Requests { get; } = [];
    public List<string> Violations { get; } = [];
    public Uri BaseUrl { get; private set; } = null!;

    public static async Task<FakeSendGrid> StartAsync()
    {
        var fake = new FakeSendGrid();
        (fake._app, fake.BaseUrl) = await Loopback.StartAsync(app => app.MapPost("/v3/mail/send", fake.HandleAsync));
        return fake;
    }

    public void Queue(int status, string body = "", Dictionary<string, string>? headers = null) => _responses.Enqueue((status, body, headers ?? []));

    private async Task HandleAsync(HttpContext http)
    {
        var body = await JsonDocument.ParseAsync(http.Request.Body);
        var request = body.RootElement.Clone();
        lock (Requests)
        {
            Requests.Add(request);
            Check(http.Request.Headers.Authorization.ToString(), request);
        }

        if (_responses.TryDequeue(out var response))
        {
            http.Response.StatusCode = response.Status;
            foreach (var (name, value) in response.Headers)
            {
                http.Response.Headers[name] = value;
            }

            await http.Response.WriteAsync(response.Body);
            return;
        }

        http.Response.StatusCode = (int)HttpStatusCode.Accepted;
    }

    private void Check(string authorization, JsonElement request)
    {
        void Rule(bool holds, string rule)
        {
            if (!holds)
            {
                Violations.Add(rule);
            }
        }

        Rule(authorization == $"Bearer {ApiKey}", "Authorization must be 'Bearer <API key>'");
        var personalizations = request.GetProperty("personalizations");
        Rule(personalizations.GetArrayLength() is >= 1 and <= 1000, "1 to 1000 personalizations");
        var addresses = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in personalizations.EnumerateArray())
        {
            Rule(p.TryGetProperty("to", out var to) && to.GetArrayLength() >= 1 && to[0].TryGetProperty("email", out _), "each personalization needs a to address");
            Rule(to.EnumerateArray().All(t => addresses.Add(t.GetProperty("email").GetString()!)), "each email address at most once per request");
            if (p.TryGetProperty("substitutions", out var substitutions))
            {
                Rule(substitutions.EnumerateObject().All(a => a.Value.ValueKind == JsonValueKind.String), "substitution values must be strings");
                Rule(substitutions.EnumerateObject().Sum(a => System.Text.Encoding.UTF8.GetByteCount(a.Name) + System.Text.Encoding.UTF8.GetByteCount(a.Value.GetString()!)) <= 10_000,
                    "at most 10,000 bytes of substitutions per personalization");
            }
            if (p.TryGetProperty("custom_args", out var args))
            {
                Rule(args.EnumerateObject().All(a => a.Value.ValueKind == JsonValueKind.String), "custom_args values must be strings");
            }
        }

        Rule(request.GetProperty("from").TryGetProperty("email", out _), "from.email is required");
        var content = request.GetProperty("content");
        Rule(content.GetArrayLength() >= 1 && content[0].GetProperty("type").GetString() == "text/plain", "text/plain content must come first");
        if (request.TryGetProperty("categories", out var categories))
        {
            Rule(categories.GetArrayLength() <= 10 && categories.EnumerateArray().All(c => c.GetString()!.Length <= 255), "at most 10 categories of 255 characters");
        }
    }

    public sealed record Message(string To, string Subject, string Text, string Html, JsonElement Personalization);

    /// <summary>Every message the requests so far ask for, as a recipient would get it.</summary>
    public List<Message> Delivered()
    {
        var messages = new List<Message>();
        lock (Requests)
        {
            foreach (var request in Requests)
            {
                var content = request.GetProperty("content");
                foreach (var p in request.GetProperty("personalizations").EnumerateArray())
                {
                    string Fill(string text)
                    {
                        if (p.TryGetProperty("substitutions", out var substitutions))
                        {
                            foreach (var s in substitutions.EnumerateObject())
                            {
                                text = text.Replace(s.Name, s.Value.GetString(), StringComparison.Ordinal);
                            }
                        }

                        return text;
                    }

                    var subject = p.TryGetProperty("subject", out var own) ? own.GetString()! : request.GetProperty("subject").GetString()!;
                    messages.Add(new Message(p.GetProperty("to")[0].GetProperty("email").GetString()!, Fill(subject),
                        Fill(content[0].GetProperty("value").GetString()!), Fill(content[1].GetProperty("value").GetString()!), p));
                }
            }
        }

        return messages;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
