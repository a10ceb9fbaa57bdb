using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Webhooks;

/// <summary>
/// Makes one delivery attempt: the event's body, signed per Standard Webhooks with the subscription's
/// secret and the attempt's own timestamp, POSTed once with a timeout. It only reports what happened;
/// the outbox dispatcher decides what follows (sent, retry, dead, or disable on 410 Gone).
/// </summary>
public sealed class WebhookSender(IHttpClientFactory clients, TimeProvider clock, IOptions<WebhookOptions> options)
{
    public const string HttpClientName = "webhooks";
    public const string UserAgent = "SendWorkflows-Webhooks/1";

    private static readonly JsonSerializerOptions BodyOptions = new(JsonBody.Options)
    {
        // completedAt and certificate appear only when there is one.
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>What one attempt came to: a status code if the receiver answered, an error unless it was a 2xx.</summary>
    public sealed record Result(string WebhookId, DateTimeOffset AttemptedAt, int? StatusCode, string? Error)
    {
        public bool Delivered => StatusCode is >= 200 and < 300;

        /// <summary>410 Gone: the receiver wants nothing more from this subscription.</summary>
        public bool Gone => StatusCode == 410;
    }

    private sealed record Envelope(string Type, DateTimeOffset Timestamp, PublishedEnrolment Data);

    /// <summary>
    /// The body sent for an event: <c>{type, timestamp, data}</c>, compact. Built from the stored event
    /// each time, so every attempt sends the same bytes.
    /// </summary>
    public static byte[] Body(Published e) => JsonSerializer.SerializeToUtf8Bytes(new Envelope(e.Type, e.Timestamp, e.Data), BodyOptions);

    public async Task<Result> SendAsync(WebhookTarget target, WebhookMessage message, CancellationToken ct)
    {
        var body = Body(message.Event);
        var webhookId = WebhookSignature.MessageId(message.Event.DedupeKey);
        var attemptedAt = clock.GetUtcNow();
        var timestamp = attemptedAt.ToUnixTimeSeconds();

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.Add(WebhookSignature.IdHeader, webhookId);
            request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(target.Secret, webhookId, timestamp, body));
            request.Headers.UserAgent.ParseAdd(UserAgent);

            using var response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            var status = (int)response.StatusCode;
            return new Result(webhookId, attemptedAt, status, status switch
            {
                >= 200 and < 300 => null,
                >= 300 and < 400 => $"HTTP {status}: redirects are not followed; subscribe the address it points to instead.",
                _ => $"HTTP {status} {response.ReasonPhrase}".TrimEnd(),
            });
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Result(webhookId, attemptedAt, null,
                string.Create(CultureInfo.InvariantCulture, $"no answer within {options.Value.Timeout.TotalSeconds:0.###} s."));
        }
        catch (HttpRequestException e)
        {
            var reason = e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.Ordinal)
                ? $"{e.Message} ({inner.Message})"
                : e.Message;
            return new Result(webhookId, attemptedAt, null, reason.Length <= 500 ? reason : reason[..500]);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Anything else about this one delivery (an address this runtime cannot use) fails it alone.
            return new Result(webhookId, attemptedAt, null, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
