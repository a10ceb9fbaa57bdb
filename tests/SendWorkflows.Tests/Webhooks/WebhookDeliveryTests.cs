using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Outbox;
using SendWorkflows.Tests.Certificates;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Webhooks;

/// <summary>
/// Webhooks delivered to a real HTTP receiver on loopback, through the outbox, with a manual clock.
/// Signatures are checked here from the Standard Webhooks specification alone, not with the app's code.
/// </summary>
public sealed class WebhookDeliveryTests
{
    private const string SchoolA = "100004";
    private const string SchoolB = "100005";

    internal static async Task<(string Id, string Secret)> SubscribeAsync(HttpClient client, string url, params string[] events)
    {
        var response = await client.PostAsJsonAsync("/api/v1/webhooks", new { url, events });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("id").GetString()!, body.GetProperty("secret").GetString()!);
    }

    private static readonly string[] AllEvents = ["enrolment.completed", "certificate.issued", "enrolment.lapsed"];

    /// <summary>Per the specification: HMAC-SHA256 keyed with the base64 after whsec_, over id.timestamp.body, one of the space-separated v1 signatures.</summary>
    private static void AssertSignedWith(string secret, WebhookReceiver.Received request)
    {
        var id = request.Header("webhook-id");
        var timestamp = request.Header("webhook-timestamp");
        Assert.DoesNotContain('.', id);
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(request.Body).ToArray();
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        Assert.Contains(expected, request.Header("webhook-signature").Split(' '));
    }

    private static JsonElement Json(WebhookReceiver.Received request) => JsonDocument.Parse(request.Body).RootElement;

    private static string TypeOf(WebhookReceiver.Received request) => Json(request).GetProperty("type").GetString()!;

    private static async Task<List<JsonElement>> DeliveriesAsync(HttpClient client, string subscriptionId)
    {
        var response = await client.GetAsync($"/api/v1/webhooks/{subscriptionId}/deliveries");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("deliveries").EnumerateArray().ToList();
    }

    [Fact]
    public async Task completion_delivers_enrolment_completed_then_certificate_issued_signed_per_standard_webhooks()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        var (_, secret) = await SubscribeAsync(app.Admin(), receiver.Url("/hooks"), AllEvents);

        var (id, certificate) = await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);

        var requests = receiver.Requests("/hooks");
        Assert.Equal(["enrolment.completed", "certificate.issued"], requests.Select(TypeOf));
        foreach (var request in requests)
        {
            Assert.Equal("POST", request.Method);
            Assert.StartsWith("application/json", request.Header("content-type"), StringComparison.Ordinal);
            Assert.Equal(app.Clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), request.Header("webhook-timestamp"));
            Assert.Matches("^msg_[0-9a-f]{32}$", request.Header("webhook-id"));
            AssertSignedWith(secret, request);
            // Identifiers and status only: never a name or an email address.
            Assert.DoesNotContain("@", request.Text, StringComparison.Ordinal);
            Assert.DoesNotContain("Brontë", request.Text, StringComparison.Ordinal);
        }

        Assert.NotEqual(requests[0].Header("webhook-id"), requests[1].Header("webhook-id"));

        var completed = Json(requests[0]);
        Assert.Equal(app.Clock.GetUtcNow(), completed.GetProperty("timestamp").GetDateTimeOffset());
        var data = completed.GetProperty("data");
        Assert.Equal(id, data.GetProperty("enrolmentId").GetString());
        Assert.Equal("quick", data.GetProperty("programmeId").GetString());
        Assert.Equal(SchoolA, data.GetProperty("schoolUrn").GetString());
        Assert.Equal("T-1", data.GetProperty("externalId").GetString());
        Assert.Equal("completed", data.GetProperty("status").GetString());
        Assert.Equal((await app.GetEnrolmentAsync(id)).GetProperty("completedAt").GetDateTimeOffset(), data.GetProperty("completedAt").GetDateTimeOffset());
        Assert.False(data.TryGetProperty("certificate", out _));

        var issued = Json(requests[1]).GetProperty("data");
        Assert.Equal(id, issued.GetProperty("enrolmentId").GetString());
        Assert.Equal(certificate.GetProperty("number").GetString(), issued.GetProperty("certificate").GetProperty("number").GetString());
        Assert.Equal(certificate.GetProperty("verifyUrl").GetString(), issued.GetProperty("certificate").GetProperty("verifyUrl").GetString());
    }

    [Fact]
    public async Task a_failing_receiver_is_retried_with_back_off_under_the_same_webhook_id_and_the_log_shows_every_attempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        var admin = app.Admin();
        var (subscription, secret) = await SubscribeAsync(admin, receiver.Url("/flaky"), "enrolment.completed");
        receiver.Answer("/flaky", 500, 503);

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);
        var first = app.Clock.GetUtcNow();
        Assert.Single(receiver.Requests());

        app.Clock.Advance(TimeSpan.FromSeconds(29));
        await app.TickAsync();
        Assert.Single(receiver.Requests());
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        await app.TickAsync();
        Assert.Equal(2, receiver.Requests().Count);
        app.Clock.Advance(TimeSpan.FromSeconds(60));
        await app.TickAsync();

        var requests = receiver.Requests();
        Assert.Equal(3, requests.Count);
        Assert.Single(requests.Select(r => r.Header("webhook-id")).Distinct());
        Assert.Single(requests.Select(r => r.Text).Distinct());
        Assert.Equal([first, first.AddSeconds(30), first.AddSeconds(90)],
            requests.Select(r => DateTimeOffset.FromUnixTimeSeconds(long.Parse(r.Header("webhook-timestamp"), CultureInfo.InvariantCulture))));
        foreach (var request in requests)
        {
            AssertSignedWith(secret, request);
        }

        // Nothing more once delivered.
        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();
        Assert.Equal(3, receiver.Requests().Count);

        var log = await DeliveriesAsync(admin, subscription);
        Assert.Equal([3, 2, 1], log.Select(d => d.GetProperty("attempt").GetInt32()));
        Assert.Equal(["delivered", "retrying", "retrying"], log.Select(d => d.GetProperty("outcome").GetString()));
        Assert.Equal([200, 503, 500], log.Select(d => d.GetProperty("statusCode").GetInt32()));
        Assert.All(log, d => Assert.Equal("enrolment.completed", d.GetProperty("eventType").GetString()));
        Assert.All(log, d => Assert.Equal(requests[0].Header("webhook-id"), d.GetProperty("webhookId").GetString()));
        Assert.Equal(first.AddSeconds(30), log[2].GetProperty("nextAttemptAt").GetDateTimeOffset());
        Assert.Equal(first.AddSeconds(90), log[1].GetProperty("nextAttemptAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, log[0].GetProperty("nextAttemptAt").ValueKind);
        Assert.Equal(first.AddSeconds(90), log[0].GetProperty("attemptedAt").GetDateTimeOffset());
        Assert.Contains("503", log[1].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, log[0].GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task a_delivery_that_keeps_failing_ends_dead_after_max_attempts_and_is_not_tried_again()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp(settings: new() { ["Outbox:MaxAttempts"] = "3" });
        var (subscription, _) = await SubscribeAsync(app.Admin(), receiver.Url("/down"), "enrolment.completed");
        receiver.Answer("/down", 500, 500, 500, 500, 500);

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);
        for (var i = 0; i < 5; i++)
        {
            app.Clock.Advance(TimeSpan.FromHours(1));
            await app.TickAsync();
        }

        Assert.Equal(3, receiver.Requests().Count);
        Assert.Equal(1, app.Count("outbox", "kind = 'webhook' AND status = 'dead' AND attempts = 3 AND last_error LIKE 'HTTP 500%'"));
        var log = await DeliveriesAsync(app.Admin(), subscription);
        Assert.Equal(["dead", "retrying", "retrying"], log.Select(d => d.GetProperty("outcome").GetString()));
        Assert.Equal(JsonValueKind.Null, log[0].GetProperty("nextAttemptAt").ValueKind);
    }

    [Fact]
    public async Task a_receiver_that_answers_410_gone_disables_the_subscription_and_gets_nothing_more()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        var admin = app.Admin();
        var (gone, _) = await SubscribeAsync(admin, receiver.Url("/gone"), AllEvents);
        var (kept, _) = await SubscribeAsync(admin, receiver.Url("/kept"), AllEvents);
        receiver.Answer("/gone", 410);

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);
        await CertificateEndpointTests.CompletedAsync(app, "T-2", SchoolA);
        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();

        // The first event was its last: the certificate after it, and the second person's events, never went.
        Assert.Single(receiver.Requests("/gone"));
        Assert.Equal(4, receiver.Requests("/kept").Count);

        var listed = (await admin.GetFromJsonAsync<JsonElement>("/api/v1/webhooks")).GetProperty("webhooks").EnumerateArray().ToList();
        var disabled = listed.Single(w => w.GetProperty("id").GetString() == gone);
        Assert.Equal(app.Clock.GetUtcNow().AddDays(-1), disabled.GetProperty("disabledAt").GetDateTimeOffset());
        Assert.Contains("410", disabled.GetProperty("disabledReason").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, listed.Single(w => w.GetProperty("id").GetString() == kept).GetProperty("disabledAt").ValueKind);

        var log = Assert.Single(await DeliveriesAsync(admin, gone));
        Assert.Equal("disabled", log.GetProperty("outcome").GetString());
        Assert.Equal(410, log.GetProperty("statusCode").GetInt32());
        Assert.Equal(0, app.Count("outbox", "kind = 'webhook' AND status = 'pending'"));
    }

    [Fact]
    public async Task a_subscription_gets_only_the_event_types_it_asked_for()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        await SubscribeAsync(app.Admin(), receiver.Url("/certificates"), "certificate.issued");
        await SubscribeAsync(app.Admin(), receiver.Url("/lapses"), "enrolment.lapsed");

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);

        Assert.Equal(["certificate.issued"], receiver.Requests("/certificates").Select(TypeOf));
        Assert.Empty(receiver.Requests("/lapses"));
    }

    [Fact]
    public async Task a_school_key_never_hears_about_another_schools_people_and_an_admin_key_hears_about_everyone()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        await SubscribeAsync(await app.ClientWithScopesAsync($"school:{SchoolA}"), receiver.Url("/a"), AllEvents);
        await SubscribeAsync(await app.ClientWithScopesAsync($"school:{SchoolB}"), receiver.Url("/b"), AllEvents);
        await SubscribeAsync(app.Admin(), receiver.Url("/admin"), AllEvents);

        var (inA, _) = await CertificateEndpointTests.CompletedAsync(app, "T-A", SchoolA);
        var (inB, _) = await CertificateEndpointTests.CompletedAsync(app, "T-B", SchoolB);

        string EnrolmentOf(WebhookReceiver.Received r) => Json(r).GetProperty("data").GetProperty("enrolmentId").GetString()!;
        Assert.Equal([inA, inA], receiver.Requests("/a").Select(EnrolmentOf));
        Assert.Equal([inB, inB], receiver.Requests("/b").Select(EnrolmentOf));
        Assert.Equal(4, receiver.Requests("/admin").Count);
    }

    [Fact]
    public async Task an_enrolment_whose_deadline_passes_is_announced_as_lapsed()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync(window: "P30D");
        var (_, secret) = await SubscribeAsync(app.Admin(), receiver.Url("/lapsed"), "enrolment.lapsed");
        var id = await app.EnrolAsync("T-1", SchoolA, "small");

        app.Clock.Advance(TimeSpan.FromDays(29));
        await app.TickAsync();
        Assert.Empty(receiver.Requests());

        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();
        app.Clock.Advance(TimeSpan.FromDays(5));
        await app.TickAsync();

        var request = Assert.Single(receiver.Requests());
        AssertSignedWith(secret, request);
        var body = Json(request);
        Assert.Equal("enrolment.lapsed", body.GetProperty("type").GetString());
        Assert.Equal(ManualClock.Monday9am.AddDays(30), body.GetProperty("timestamp").GetDateTimeOffset());
        Assert.Equal(id, body.GetProperty("data").GetProperty("enrolmentId").GetString());
        Assert.Equal("lapsed", body.GetProperty("data").GetProperty("status").GetString());
        Assert.False(body.GetProperty("data").TryGetProperty("completedAt", out _));
    }

    [Fact]
    public async Task each_subscription_gets_each_event_once_however_many_dispatch_passes_run()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        await SubscribeAsync(app.Admin(), receiver.Url("/one"), "enrolment.completed");
        await SubscribeAsync(app.Admin(), receiver.Url("/two"), "enrolment.completed");

        // Completed without a tick, then two dispatchers at once, as two instances would.
        await app.PublishSmallProgrammeAsync("quick0", liveSessions: 0);
        var id = await app.EnrolAsync("T-1", SchoolA, "quick0");
        foreach (var module in new[] { "m1", "m2" })
        {
            (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/{module}/completion", null)).EnsureSuccessStatusCode();
        }

        var dispatcher = app.Service<OutboxDispatcher>();
        await Task.WhenAll(dispatcher.DispatchDueAsync(CancellationToken.None), dispatcher.DispatchDueAsync(CancellationToken.None));
        await app.TickAsync();
        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();

        Assert.Single(receiver.Requests("/one"));
        Assert.Single(receiver.Requests("/two"));
        Assert.Equal(receiver.Requests("/one")[0].Header("webhook-id"), receiver.Requests("/two")[0].Header("webhook-id"));
        Assert.Equal(2, app.Count("outbox", "kind = 'webhook' AND status = 'sent' AND attempts = 1"));
    }

    [Fact]
    public async Task a_subscription_deleted_before_its_delivery_goes_gets_nothing_and_the_delivery_is_cancelled()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        var (subscription, _) = await SubscribeAsync(app.Admin(), receiver.Url("/deleted"), "enrolment.completed");
        receiver.Answer("/deleted", 500);
        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);
        Assert.Single(receiver.Requests());

        Assert.Equal(HttpStatusCode.NoContent, (await app.Admin().DeleteAsync($"/api/v1/webhooks/{subscription}")).StatusCode);
        app.Clock.Advance(TimeSpan.FromHours(1));
        await app.TickAsync();

        Assert.Single(receiver.Requests());
        Assert.Equal(1, app.Count("outbox", "kind = 'webhook' AND status = 'cancelled' AND last_error LIKE '%deleted%'"));
        Assert.Equal(0, app.Count("webhook_deliveries"));
    }

    [Fact]
    public async Task a_revoked_clients_subscriptions_get_nothing()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        var (clientId, key) = await app.CreateApiClientAsync($"school:{SchoolA}");
        await SubscribeAsync(app.WithKey(key), receiver.Url("/revoked"), AllEvents);
        (await app.Admin().DeleteAsync($"/api/v1/clients/{clientId}")).EnsureSuccessStatusCode();

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);

        Assert.Empty(receiver.Requests());
        Assert.Equal(0, app.Count("outbox", "kind = 'webhook'"));
    }

    [Fact]
    public async Task a_receiver_that_cannot_be_reached_or_redirects_is_retried_with_the_reason_in_the_log()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        // A port nobody listens on: the receiver above is started and stopped to find one.
        var closed = await WebhookReceiver.StartAsync();
        var unreachable = closed.Url("/nobody");
        await closed.DisposeAsync();
        var (refused, _) = await SubscribeAsync(app.Admin(), unreachable, "enrolment.completed");
        var (moved, _) = await SubscribeAsync(app.Admin(), receiver.Url("/moved-away"), "enrolment.completed");
        receiver.Answer("/moved-away", 301);

        await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);

        var notReached = Assert.Single(await DeliveriesAsync(app.Admin(), refused));
        Assert.Equal("retrying", notReached.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, notReached.GetProperty("statusCode").ValueKind);
        Assert.False(string.IsNullOrEmpty(notReached.GetProperty("error").GetString()));

        var redirected = Assert.Single(await DeliveriesAsync(app.Admin(), moved));
        Assert.Equal(301, redirected.GetProperty("statusCode").GetInt32());
        Assert.Contains("redirects are not followed", redirected.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(receiver.Requests("/moved"));
    }

    [Fact]
    public async Task a_receiver_that_does_not_answer_in_time_is_retried()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var never = new TaskCompletionSource();
        await using var app = new TestApp(settings: new() { ["Webhooks:Timeout"] = "00:00:00.500" });
        await using var slow = await SlowReceiver.StartAsync(never.Task);
        var (subscription, _) = await SubscribeAsync(app.Admin(), slow.Url, "enrolment.completed");
        try
        {
            await CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);
        }
        finally
        {
            never.SetResult();
        }

        var log = Assert.Single(await DeliveriesAsync(app.Admin(), subscription));
        Assert.Equal("retrying", log.GetProperty("outcome").GetString());
        Assert.Equal("no answer within 0.5 s.", log.GetProperty("error").GetString());
        Assert.Equal(1, app.Count("outbox", "kind = 'webhook' AND status = 'pending' AND attempts = 1"));
    }

    /// <summary>A receiver that accepts the request and answers only when the test lets it.</summary>
    private sealed class SlowReceiver : IAsyncDisposable
    {
        private readonly Microsoft.AspNetCore.Builder.WebApplication _app;

        private SlowReceiver(Microsoft.AspNetCore.Builder.WebApplication app, string url) => (_app, Url) = (app, url);

        public string Url { get; }

        public static async Task<SlowReceiver> StartAsync(Task release)
        {
            var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
            Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(builder.WebHost, "http://127.0.0.1:0");
            var app = builder.Build();
            Microsoft.AspNetCore.Builder.RunExtensions.Run(app, async _ => await release);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
            return new SlowReceiver(app, address + "/slow");
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
