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
/// one personalization per message with its own headers and <c>custom_args</c> (template and
/// enrolment id, as strings), the template as a category, plain text then HTML content, and sandbox
/// mode. 202 means accepted. 429 carries <c>X-RateLimit-Reset</c> (Unix seconds) and is honoured;
/// 5xx is retried; any other 4xx is the request's fault and ends the effect with SendGrid's errors.
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

    public async Task SendAsync(EmailMessage message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_options.BaseUrl, "/v3/mail/send"))
        {
            Content = JsonContent.Create(Body(message), options: Json),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        using var response = await _http.SendAsync(request, ct);
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var errors = await ErrorsAsync(response, ct);
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            throw new RateLimitedException(ResetTime(response), $"SendGrid rate limit reached: {errors}");
        }

        if (status >= 500)
        {
            throw new HttpRequestException($"SendGrid answered {status}: {errors}", null, response.StatusCode);
        }

        throw new PermanentDeliveryException($"SendGrid refused the message ({status}): {errors}");
    }

    public SendRequest Body(EmailMessage message)
    {
        var customArgs = message.Headers
            .Where(h => h.Key.StartsWith("X-SendWorkflows-", StringComparison.Ordinal))
            .ToDictionary(h => h.Key["X-SendWorkflows-".Length..].ToLowerInvariant(), h => h.Value, StringComparer.Ordinal);
        return new SendRequest(
            [new Personalization([new Address(message.To.Address, message.To.DisplayName)], message.Subject, message.Headers, customArgs)],
            new Address(message.From.Address, message.From.DisplayName),
            message.Subject,
            [new Content("text/plain", message.TextBody), new Content("text/html", message.HtmlBody)],
            message.Headers.TryGetValue(EmailMessage.TemplateHeader, out var template) ? [template] : null,
            _options.SandboxMode ? new MailSettings(new Switch(true)) : null);
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

    private static async Task<string> ErrorsAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var body = JsonDocument.Parse(text);
            if (body.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                return string.Join("; ", errors.EnumerateArray().Select(e =>
                    (e.TryGetProperty("field", out var f) && f.ValueKind == JsonValueKind.String ? $"{f.GetString()}: " : "") +
                    (e.TryGetProperty("message", out var m) ? m.GetString() : "")));
            }
        }
        catch (JsonException)
        {
        }

        return text.Length > 500 ? text[..500] : text;
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
        [property: JsonPropertyName("custom_args")] IReadOnlyDictionary<string, string> CustomArgs);

    public sealed record Address([property: JsonPropertyName("email")] string Email, [property: JsonPropertyName("name")] string? Name);

    public sealed record Content([property: JsonPropertyName("type")] string Type, [property: JsonPropertyName("value")] string Value);

    public sealed record MailSettings([property: JsonPropertyName("sandbox_mode")] Switch SandboxMode);

    public sealed record Switch([property: JsonPropertyName("enable")] bool Enable);
}
