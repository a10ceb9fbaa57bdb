using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Email;

/// <summary>
/// SendGrid's Event Webhook: what happened to each email. Requests are signed (ECDSA P-256 over the
/// timestamp header followed by the raw body, SHA-256; the public key from SendGrid's mail settings
/// in <c>SendGrid:WebhookPublicKey</c>, base64 DER) and must be fresh. Bounces, blocks, drops and spam
/// reports suppress the address, so nothing more is sent to it; every event about an enrolment's
/// email is recorded and shown in its status.
/// </summary>
public static class SendGridEventWebhook
{
    public const string SignatureHeader = "X-Twilio-Email-Event-Webhook-Signature";
    public const string TimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp";

    /// <summary>A request older or newer than this is refused: a captured one cannot be replayed later.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private const long MaxBodyBytes = 5 * 1024 * 1024;
    private static readonly HashSet<string> Suppressing = new(StringComparer.Ordinal) { "bounce", "blocked", "dropped", "spamreport" };

    public sealed record Accepted(int Events, int Recorded, int Suppressed);

    public static void MapSendGridEventWebhook(this IEndpointRouteBuilder app) =>
        app.MapPost("/webhooks/sendgrid/events", ReceiveAsync).WithTags("Email").AllowAnonymous()
            .WithSummary("SendGrid Event Webhook (signed): bounces and spam reports suppress the address; delivery events are recorded.");

    private static async Task<Results<Ok<Accepted>, ProblemHttpResult>> ReceiveAsync(
        HttpRequest request, IConfiguration configuration, IWorkflowStore store, EnrolmentWorkflow workflow, TimeProvider clock, CancellationToken ct)
    {
        var publicKey = configuration["SendGrid:WebhookPublicKey"];
        if (string.IsNullOrWhiteSpace(publicKey))
        {
            return Problems.NotFound("webhook", "path", "/webhooks/sendgrid/events (set SendGrid:WebhookPublicKey to receive it)");
        }

        var signature = request.Headers[SignatureHeader].ToString();
        var timestamp = request.Headers[TimestampHeader].ToString();
        if (signature.Length == 0 || timestamp.Length == 0)
        {
            return Unauthorized(SignatureHeader, "the request is not signed.");
        }

        var (body, tooLarge) = await JsonBody.ReadLimitedAsync(request, MaxBodyBytes, ct);
        if (tooLarge is not null)
        {
            return tooLarge;
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ||
            (clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(Math.Min(seconds, 253402300799))).Duration() > Tolerance)
        {
            return Forbidden(TimestampHeader, "is missing, malformed or more than five minutes from now.");
        }

        if (!Verify(publicKey, timestamp, body!, signature))
        {
            return Forbidden(SignatureHeader, "does not verify against the configured public key.");
        }

        List<JsonElement> events;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return Problems.Field("body", "must be a JSON array of events.");
            }

            events = document.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
        }
        catch (JsonException)
        {
            return Problems.Field("body", "is not valid JSON.");
        }

        int recorded = 0, suppressed = 0;
        var now = clock.GetUtcNow();
        await using (var tx = await store.BeginAsync(ct))
        {
            foreach (var e in events)
            {
                var kind = Text(e, "event");
                var email = Text(e, "email");
                var id = Text(e, "sg_event_id");
                if (kind is null || email is null || id is null)
                {
                    continue; // not an event this service can use; SendGrid is not asked to resend it
                }

                var type = Text(e, "type");
                var what = kind == "bounce" && type == "blocked" ? "blocked" : kind;
                var detail = Text(e, "reason") ?? Text(e, "response");
                var at = e.TryGetProperty("timestamp", out var ts) && ts.TryGetInt64(out var unix)
                    ? DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(unix, 0, 253402300799))
                    : now;
                Guid? enrolment = Guid.TryParse(Text(e, "enrolment"), out var parsed) ? parsed : null;
                if (await tx.RecordDeliveryAsync(new EmailDelivery(id, enrolment, Text(e, "template"), what, at, Truncate(detail))))
                {
                    recorded++;
                    if (Suppressing.Contains(what))
                    {
                        await tx.SuppressAsync(email, what, Truncate(detail), now);
                        suppressed++;
                        if (enrolment is { } enrolmentId)
                        {
                            // The enrolment stops deciding reminders for this address (and the school digest says why).
                            await workflow.ApplyInAsync(tx, enrolmentId, new EmailBounced(email, what), ct);
                        }
                    }
                }
            }

            await tx.CommitAsync();
        }

        return TypedResults.Ok(new Accepted(events.Count, recorded, suppressed));
    }

    public static bool Verify(string publicKey, string timestamp, byte[] body, string signature)
    {
        try
        {
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportSubjectPublicKeyInfo(Convert.FromBase64String(publicKey), out _);
            var signed = Encoding.UTF8.GetBytes(timestamp).Concat(body).ToArray();
            return ecdsa.VerifyData(signed, Convert.FromBase64String(signature), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (FormatException)
        {
            return false;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Truncate(string? text) => text is { Length: > 500 } ? text[..500] : text;

    private static ProblemHttpResult Unauthorized(string field, string message)
    {
        var problem = Problems.Field(field, message, StatusCodes.Status401Unauthorized);
        problem.ProblemDetails.Title = "The webhook request is not signed.";
        return problem;
    }

    private static ProblemHttpResult Forbidden(string field, string message)
    {
        var problem = Problems.Field(field, message, StatusCodes.Status403Forbidden);
        problem.ProblemDetails.Title = "The webhook request's signature is not accepted.";
        return problem;
    }
}
