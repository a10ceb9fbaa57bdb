using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Email;

/// <summary>The SendGrid Event Webhook, signed the way SendGrid signs it: ECDSA P-256 over timestamp + raw body.</summary>
public sealed class SendGridEventWebhookTests : IDisposable
{
    private readonly ECDsa _sendGridKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public void Dispose() => _sendGridKey.Dispose();

    private TestApp App() => new(settings: new() { ["SendGrid:WebhookPublicKey"] = Convert.ToBase64String(_sendGridKey.ExportSubjectPublicKeyInfo()) });

    private static HttpRequestMessage Signed(ECDsa key, string body, DateTimeOffset at, string? tamperedBody = null)
    {
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = key.SignData(Encoding.UTF8.GetBytes(timestamp + body), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return new HttpRequestMessage(HttpMethod.Post, "/webhooks/sendgrid/events")
        {
            Content = new StringContent(tamperedBody ?? body, Encoding.UTF8, "application/json"),
            Headers = { { "X-Twilio-Email-Event-Webhook-Signature", Convert.ToBase64String(signature) }, { "X-Twilio-Email-Event-Webhook-Timestamp", timestamp } },
        };
    }

    private static string Events(params object[] events) => JsonSerializer.Serialize(events);

    private static object Event(string kind, string email, string enrolment, string id, string? type = null) => new Dictionary<string, object?>
    {
        ["email"] = email, ["timestamp"] = 1795428000, ["event"] = kind, ["type"] = type, ["sg_event_id"] = id,
        ["sg_message_id"] = "msg.1", ["reason"] = kind == "bounce" ? "550 5.1.1 The email account does not exist" : null,
        ["template"] = "welcome", ["enrolment"] = enrolment,
    };

    [Fact]
    public async Task a_bounce_suppresses_the_address_so_nothing_more_is_sent_to_it_and_the_status_shows_it()
    {
        await using var app = App();
        var id = await app.EnrolAsync("T-1");
        var email = "t-1@school100004.example.org";

        var response = await app.Anonymous().SendAsync(Signed(_sendGridKey, Events(Event("bounce", email, id, "ev-1")), app.Clock.GetUtcNow()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("suppressed").GetInt32());

        var tick = await app.TickAsync();
        Assert.Equal(1, tick.GetProperty("effectsDead").GetInt32());
        Assert.Empty(app.OutboxFiles());
        Assert.Equal(1, app.Count("outbox", "status = 'dead' AND last_error LIKE '%suppressed%'"));

        var shown = Assert.Single((await app.GetEnrolmentAsync(id)).GetProperty("emails").EnumerateArray());
        Assert.Equal("bounce", shown.GetProperty("event").GetString());
        Assert.Equal("welcome", shown.GetProperty("template").GetString());
        Assert.Contains("does not exist", shown.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // The enrolment itself knows: no reminder is even decided for an address that does not work.
        var status = await app.GetEnrolmentAsync(id);
        Assert.Equal(JsonValueKind.String, status.GetProperty("emailBouncedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, status.GetProperty("nextNudgeAt").ValueKind);
        app.Clock.Advance(TimeSpan.FromDays(8));
        await app.TickAsync();
        Assert.Equal(0, app.Count("outbox", "template = 'not-started'"));
    }

    [Fact]
    public async Task a_delivery_is_recorded_once_however_often_sendgrid_repeats_it_and_suppresses_nothing()
    {
        await using var app = App();
        var id = await app.EnrolAsync("T-1");
        await app.TickAsync();
        var body = Events(Event("delivered", "t-1@school100004.example.org", id, "ev-9"), Event("open", "t-1@school100004.example.org", id, "ev-10"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().SendAsync(Signed(_sendGridKey, body, app.Clock.GetUtcNow()))).StatusCode);
        }

        Assert.Equal(2, app.Count("email_deliveries"));
        Assert.Equal(0, app.Count("suppressions"));
        Assert.Contains((await app.GetEnrolmentAsync(id)).GetProperty("emails").EnumerateArray(), e => e.GetProperty("event").GetString() == "delivered");
    }

    [Fact]
    public async Task a_block_reported_as_a_bounce_of_type_blocked_suppresses_as_blocked()
    {
        await using var app = App();
        var id = await app.EnrolAsync("T-1");
        await app.Anonymous().SendAsync(Signed(_sendGridKey, Events(Event("bounce", "T-1@School100004.example.org", id, "ev-2", "blocked")), app.Clock.GetUtcNow()));
        Assert.Equal(1, app.Count("suppressions", "email = 't-1@school100004.example.org' AND reason = 'blocked'"));
    }

    [Fact]
    public async Task forged_tampered_stale_or_unsigned_requests_are_refused_and_store_nothing()
    {
        await using var app = App();
        var id = await app.EnrolAsync("T-1");
        var body = Events(Event("bounce", "t-1@school100004.example.org", id, "ev-3"));
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        await Problem.AssertAsync(await app.Anonymous().SendAsync(Signed(forger, body, app.Clock.GetUtcNow())), HttpStatusCode.Forbidden,
            "X-Twilio-Email-Event-Webhook-Signature");
        await Problem.AssertAsync(await app.Anonymous().SendAsync(Signed(_sendGridKey, body, app.Clock.GetUtcNow(), tamperedBody: body.Replace("ev-3", "ev-4", StringComparison.Ordinal))),
            HttpStatusCode.Forbidden, "X-Twilio-Email-Event-Webhook-Signature");
        await Problem.AssertAsync(await app.Anonymous().SendAsync(Signed(_sendGridKey, body, app.Clock.GetUtcNow().AddMinutes(-10))), HttpStatusCode.Forbidden,
            "X-Twilio-Email-Event-Webhook-Timestamp");
        await Problem.AssertAsync(await app.Anonymous().PostAsync("/webhooks/sendgrid/events", new StringContent(body, Encoding.UTF8, "application/json")),
            HttpStatusCode.Unauthorized, "X-Twilio-Email-Event-Webhook-Signature");

        Assert.Equal(0, app.Count("email_deliveries"));
        Assert.Equal(0, app.Count("suppressions"));
    }

    [Fact]
    public async Task a_signed_body_that_is_not_an_array_of_events_is_400()
    {
        await using var app = App();
        await Problem.AssertAsync(await app.Anonymous().SendAsync(Signed(_sendGridKey, """{"event":"bounce"}""", app.Clock.GetUtcNow())), HttpStatusCode.BadRequest, "body");
        await Problem.AssertAsync(await app.Anonymous().SendAsync(Signed(_sendGridKey, "[{", app.Clock.GetUtcNow())), HttpStatusCode.BadRequest, "body");
    }

    [Fact]
    public async Task without_a_configured_public_key_the_webhook_does_not_exist()
    {
        await using var app = new TestApp();
        var response = await app.Anonymous().SendAsync(Signed(_sendGridKey, "[]", app.Clock.GetUtcNow()));
        await Problem.AssertAsync(response, HttpStatusCode.NotFound, "path");
    }
}
