using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SendWorkflows.Email;

public sealed class SendGridOptions
{
    public string? ApiKey { get; set; }

    /// <summary>The API's address; overridden in tests to a local server that checks requests against the v3 reference.</summary>
    public Uri BaseUrl { get; set; } = new("https://api.sendgrid.com");

    /// <summary>SendGrid validates the request and sends nothing (mail_settings.sandbox_mode).</summary>
    public bool SandboxMode { get; set; }
}

/// <summary>
/// The SendGrid v3 Mail Send API (<c>POST /v3/mail/send</c>), hand-written because the SendGrid package
/// cannot be restored here; kept to the part of the public API reference this service uses:
/// one personalization per message with its own subject, headers and <c>custom_args</c> (template and
/// enrolment id, as strings), the template as a category, plain text then HTML content, and sandbox
/// mode. Messages that share a body form (<see cref="SharedContent"/>) go up to 1,000 to a request,
/// the shared content once and each person's values as personalization <c>substitutions</c>; an
/// address appears at most once per request, as the API requires. 202 means accepted. 429 carries
/// <c>X-RateLimit-Reset</c> (Unix seconds) and is honoured; 5xx is retried; any other 4xx is the
/// request's fault: a batch is then tried one message at a time, so only the faulty one ends with
/// SendGrid's errors.
/// </summary>
public sealed class SendGridTransport : IEmailTransport
{
    public const string HttpClientName = "sendgrid";
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly HttpClient _http;
    private readonly SendGridOptions _options;
    private readonly TimeProvider _clock;

    public SendGridTransport(HttpClient http, SendGridOptions options, TimeProvider clock)
    {
        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            throw new InvalidOperationException("SendGrid:ApiKey is required when Email:Transport is sendgrid.");
        }

        _http = http;
        _options = options;
        _clock = clock;
    }

    /// <summary>The most personalizations the API takes in one request.</summary>
    public const int MaxPersonalizations = 1000;

    public Task SendAsync(EmailMessage message, CancellationToken ct) => PostAsync(Body(message), ct);

    public async Task<IReadOnlyList<Exception?>> SendManyAsync(IReadOnlyList<EmailMessage> messages, CancellationToken ct)
    {
        var outcomes = new Exception?[messages.Count];
        var batches = Batches(messages);
        for (var b = 0; b < batches.Count; b++)
        {
            var batch = batches[b];
            try
            {
                if (batch.Count == 1)
                {
                    await SendAsync(messages[batch[0]], ct);
                }
                else
                {
                    await PostAsync(BatchBody(batch.Select(i => messages[i]).ToList()), ct);
                }
            }
            catch (OperationCanceledException e) when (ct.IsCancellationRequested)
            {
                FillRest(outcomes, batches, b, e);
                break;
            }
            catch (RateLimitedException e)
            {
                FillRest(outcomes, batches, b, e);
                break;
            }
            catch (RefusedException e) when (batch.Count > 1 && e.AboutRecipients)
            {
                // One bad personalization refuses the whole request: find it by sending each alone.
                var alone = await ((IEmailTransport)new OneByOne(this)).SendManyAsync(batch.Select(i => messages[i]).ToList(), ct);
                for (var k = 0; k < batch.Count; k++)
                {
                    outcomes[batch[k]] = alone[k];
                }

                // Only a rate limit or shutting down stops the rest; a timeout belongs to the message it happened to.
                if (alone.FirstOrDefault(o => o is RateLimitedException || (o is OperationCanceledException && ct.IsCancellationRequested)) is { } stop)
                {
                    FillRest(outcomes, batches, b + 1, stop);
                    break;
                }
            }
            catch (Exception e)
            {
                foreach (var i in batch)
                {
                    outcomes[i] = e;
                }
            }
        }

        return outcomes;
    }

    /// <summary>
    /// Groups messages that can share one request: the same body form and sender, each address once,
    /// at most <see cref="MaxPersonalizations"/>; in the order given. Messages without a shared form go alone.
    /// </summary>
    public static List<List<int>> Batches(IReadOnlyList<EmailMessage> messages)
    {
        var batches = new List<List<int>>();
        var open = new Dictionary<string, (List<int> Batch, HashSet<string> Addresses)>(StringComparer.Ordinal);
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Shared is null || SubstitutionBytes(m.Shared) > MaxSubstitutionBytes)
            {
                batches.Add([i]);
                continue;
            }

            var key = $"{m.Shared.Key}\n{m.From.Address}\n{m.From.DisplayName}";
            var address = m.To.Address.ToLowerInvariant();
            if (!open.TryGetValue(key, out var current) || current.Batch.Count >= MaxPersonalizations || current.Addresses.Contains(address))
            {
                current = ([], new HashSet<string>(StringComparer.Ordinal));
                open[key] = current;
                batches.Add(current.Batch);
            }

            current.Batch.Add(i);
            current.Addresses.Add(address);
        }

        return batches;
    }

    /// <summary>The API allows 10,000 bytes of substitutions per personalization; a margin is kept.</summary>
    private const int MaxSubstitutionBytes = 9_000;

    private static int SubstitutionBytes(SharedContent shared) =>
        shared.Substitutions.Sum(p => System.Text.Encoding.UTF8.GetByteCount(p.Key) + System.Text.Encoding.UTF8.GetByteCount(p.Value));

    private static void FillRest(Exception?[] outcomes, List<List<int>> batches, int from, Exception e)
    {
        for (var b = from; b < batches.Count; b++)
        {
            foreach (var i in batches[b])
            {
                outcomes[i] ??= e;
            }
        }
    }

    /// <summary>The interface's one-at-a-time sending, for isolating a refused message in a batch.</summary>
    private sealed class OneByOne(SendGridTransport inner) : IEmailTransport
    {
        public Task SendAsync(EmailMessage message, CancellationToken ct) => inner.SendAsync(message, ct);
    }

    private async Task PostAsync(SendRequest body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_options.BaseUrl, "/v3/mail/send"))
        {
            Content = JsonContent.Create(body, options: Json),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        using var response = await _http.SendAsync(request, ct);
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var (errors, aboutRecipients) = await ErrorsAsync(response, ct);
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            throw new RateLimitedException(ResetTime(response), $"SendGrid rate limit reached: {errors}");
        }

        if (status >= 500)
        {
            throw new HttpRequestException($"SendGrid answered {status}: {errors}", null, response.StatusCode);
        }

        throw new RefusedException($"SendGrid refused the message ({status}): {errors}", aboutRecipients);
    }

    public SendRequest Body(EmailMessage message) =>
        Request([PersonalizationOf(message, substitutions: null)], message, message.TextBody, message.HtmlBody);

    /// <summary>One request for messages that share a body form: the form once, each person's values as substitutions.</summary>
    public SendRequest BatchBody(IReadOnlyList<EmailMessage> messages)
    {
        var first = messages[0];
        if (first.Shared is null || messages.Any(m => m.Shared?.Key != first.Shared.Key))
        {
            throw new ArgumentException("Only messages with the same shared body form can be sent as one request.", nameof(messages));
        }

        return Request(messages.Select(m => PersonalizationOf(m, m.Shared!.Substitutions)).ToList(), first, first.Shared.Text, first.Shared.Html);
    }

    private SendRequest Request(IReadOnlyList<Personalization> personalizations, EmailMessage first, string text, string html) =>
        new(personalizations,
            new Address(first.From.Address, first.From.DisplayName),
            first.Subject,
            [new Content("text/plain", text), new Content("text/html", html)],
            first.Headers.TryGetValue(EmailMessage.TemplateHeader, out var template) ? [template] : null,
            _options.SandboxMode ? new MailSettings(new Switch(true)) : null);

    private static Personalization PersonalizationOf(EmailMessage message, IReadOnlyDictionary<string, string>? substitutions)
    {
        var customArgs = message.Headers
            .Where(h => h.Key.StartsWith("X-SendWorkflows-", StringComparison.Ordinal))
            .ToDictionary(h => h.Key["X-SendWorkflows-".Length..].ToLowerInvariant(), h => h.Value, StringComparer.Ordinal);
        return new Personalization([new Address(message.To.Address, message.To.DisplayName)], message.Subject, message.Headers, customArgs,
            substitutions is { Count: > 0 } ? substitutions : null);
    }

    /// <summary>When the rate limit resets, from <c>X-RateLimit-Reset</c>; a minute from now if the header is missing.</summary>
    private DateTimeOffset ResetTime(HttpResponseMessage response)
    {
        var now = _clock.GetUtcNow();
        if (response.Headers.TryGetValues("X-RateLimit-Reset", out var values) &&
            long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            var reset = DateTimeOffset.FromUnixTimeSeconds(Math.Min(seconds, 253402300799));
            return reset > now ? reset : now + TimeSpan.FromSeconds(1);
        }

        return now + TimeSpan.FromMinutes(1);
    }

    /// <summary>SendGrid's errors as one line, and whether any is about a personalization (so about one recipient of a batch).</summary>
    private static async Task<(string Text, bool AboutRecipients)> ErrorsAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var body = JsonDocument.Parse(text);
            if (body.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                var fields = errors.EnumerateArray()
                    .Select(e => e.TryGetProperty("field", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null).ToList();
                return (string.Join("; ", errors.EnumerateArray().Select((e, i) =>
                        (fields[i] is { } field ? $"{field}: " : "") + (e.TryGetProperty("message", out var m) ? m.GetString() : ""))),
                    fields.Any(f => f?.StartsWith("personalizations", StringComparison.Ordinal) == true));
            }
        }
        catch (JsonException)
        {
        }

        return (text.Length > 500 ? text[..500] : text, false);
    }

    /// <summary>A 4xx: the request's fault, so retrying it unchanged cannot help.</summary>
    private sealed class RefusedException(string message, bool aboutRecipients) : PermanentDeliveryException(message)
    {
        public bool AboutRecipients { get; } = aboutRecipients;
    }

    public sealed record SendRequest(
        [property: JsonPropertyName("personalizations")] IReadOnlyList<Personalization> Personalizations,
        [property: JsonPropertyName("from")] Address From,
        [property: JsonPropertyName("subject")] string Subject,
        [property: JsonPropertyName("content")] IReadOnlyList<Content> Content,
        [property: JsonPropertyName("categories")] IReadOnlyList<string>? Categories,
        [property: JsonPropertyName("mail_settings")] MailSettings? MailSettings);

    public sealed record Personalization(
        [property: JsonPropertyName("to")] IReadOnlyList<Address> To,
        [property: JsonPropertyName("subject")] string Subject,
        [property: JsonPropertyName("headers")] IReadOnlyDictionary<string, string> Headers,
        [property: JsonPropertyName("custom_args")] IReadOnlyDictionary<string, string> CustomArgs,
        [property: JsonPropertyName("substitutions")] IReadOnlyDictionary<string, string>? Substitutions = null);

    public sealed record Address([property: JsonPropertyName("email")] string Email, [property: JsonPropertyName("name")] string? Name);

    public sealed record Content([property: JsonPropertyName("type")] string Type, [property: JsonPropertyName("value")] string Value);

    public sealed record MailSettings([property: JsonPropertyName("sandbox_mode")] Switch SandboxMode);

    public sealed record Switch([property: JsonPropertyName("enable")] bool Enable);
}
