using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Email;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Outbox;

public sealed class OutboxDispatcherTests
{
    /// <summary>A mail relay that is down for the first <c>failures</c> sends, then delivers to the real outbox folder.</summary>
    private sealed class FlakyRelay(int failures, string folder) : IEmailTransport
    {
        private readonly OutboxFolderTransport _folder = new(folder);
        private int _calls;

        public int Calls => _calls;

        public Task SendAsync(EmailMessage message, CancellationToken ct) =>
            Interlocked.Increment(ref _calls) <= failures
                ? throw new IOException("relay unavailable")
                : _folder.SendAsync(message, ct);
    }

    private static (TestApp App, FlakyRelay Relay) AppWithRelay(int failures, int maxAttempts = 8)
    {
        FlakyRelay? relay = null;
        var root = Directory.CreateTempSubdirectory("sendworkflows-outbox-").FullName;
        var app = new TestApp(root, settings: new() { ["Outbox:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            services: s => s.AddSingleton<IEmailTransport>(_ => relay = new FlakyRelay(failures, Path.Combine(root, "outbox"))));
        _ = app.Services;
        return (app, relay!);
    }

    [Fact]
    public async Task a_failed_email_is_retried_after_growing_delays_and_sent_once()
    {
        var (app, relay) = AppWithRelay(failures: 2);
        await using var _ = app;
        await app.EnrolAsync("T-1");

        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());
        Assert.Equal(0, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());
        Assert.Equal(1, relay.Calls);

        app.Clock.Advance(TimeSpan.FromSeconds(29));
        await app.TickAsync();
        Assert.Equal(1, relay.Calls);
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());

        app.Clock.Advance(TimeSpan.FromSeconds(59));
        await app.TickAsync();
        Assert.Equal(2, relay.Calls);
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());

        Assert.Single(app.OutboxFiles("welcome"));
        Assert.Equal(1, app.Count("outbox", "status = 'sent' AND attempts = 3 AND last_error IS NULL"));
    }

    [Fact]
    public async Task an_email_that_keeps_failing_ends_dead_visible_to_an_admin_and_can_be_retried()
    {
        var (app, relay) = AppWithRelay(failures: 3, maxAttempts: 3);
        await using var _ = app;
        var id = await app.EnrolAsync("T-1");
        for (var i = 0; i < 3; i++)
        {
            await app.TickAsync();
            app.Clock.Advance(TimeSpan.FromHours(1));
        }

        Assert.Equal(3, relay.Calls);
        var dead = await app.Admin().GetFromJsonAsync<JsonElement>($"/api/v1/outbox?status=dead&enrolmentId={id}");
        var item = Assert.Single(dead.EnumerateArray());
        Assert.Equal("welcome", item.GetProperty("template").GetString());
        Assert.Equal(3, item.GetProperty("attempts").GetInt32());
        Assert.Contains("relay unavailable", item.GetProperty("lastError").GetString(), StringComparison.Ordinal);

        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();
        Assert.Equal(3, relay.Calls);

        var retry = await app.Admin().PostAsync($"/api/v1/outbox/{item.GetProperty("id").GetInt64()}/retry", null);
        Assert.Equal(HttpStatusCode.NoContent, retry.StatusCode);
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());
        Assert.Single(app.OutboxFiles("welcome"));
    }

    [Fact]
    public async Task listing_the_outbox_checks_its_filters()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/outbox?status=lost"), HttpStatusCode.BadRequest, "status");
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/outbox?enrolmentId=x"), HttpStatusCode.BadRequest, "enrolmentId");
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/outbox?limit=0"), HttpStatusCode.BadRequest, "limit");
    }

    private sealed class RefusingRelay : IEmailTransport
    {
        public int Calls;

        public Task SendAsync(EmailMessage message, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            throw new PermanentDeliveryException("550 5.1.1 mailbox does not exist");
        }
    }

    [Fact]
    public async Task a_permanent_refusal_ends_the_effect_dead_at_once_with_the_providers_words()
    {
        var relay = new RefusingRelay();
        await using var app = new TestApp(services: s => s.AddSingleton<IEmailTransport>(relay));
        await app.EnrolAsync("T-1");
        var tick = await app.TickAsync();
        Assert.Equal(1, tick.GetProperty("effectsDead").GetInt32());
        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();
        Assert.Equal(1, relay.Calls);
        Assert.Equal(1, app.Count("outbox", "status = 'dead' AND attempts = 1 AND last_error LIKE '%mailbox does not exist%'"));
    }
}
