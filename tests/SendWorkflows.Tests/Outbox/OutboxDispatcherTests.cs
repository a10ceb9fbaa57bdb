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

    /// <summary>Records every message it is handed and how many passes were sending at once.</summary>
    private sealed class CountingRelay(bool awaitSecondPass) : IEmailTransport
    {
        private readonly TaskCompletionSource _secondPassArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        private int _passes;

        public System.Collections.Concurrent.ConcurrentBag<string> MessageIds { get; } = [];

        public int MostAtOnce;

        public Task SendAsync(EmailMessage message, CancellationToken ct) => throw new InvalidOperationException("messages come a pass at a time");

        public async Task<IReadOnlyList<Exception?>> SendManyAsync(IReadOnlyList<EmailMessage> messages, CancellationToken ct)
        {
            var now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref MostAtOnce, now);
            try
            {
                // The first pass runs alone (it finds out whether there is a backlog); the next one waits (a
                // bounded while) for another runner to come in with its own claim.
                var pass = Interlocked.Increment(ref _passes);
                if (pass == 2 && awaitSecondPass)
                {
                    await Task.WhenAny(_secondPassArrived.Task, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None));
                }
                else if (pass > 2)
                {
                    _secondPassArrived.TrySetResult();
                }

                foreach (var message in messages)
                {
                    MessageIds.Add(message.MessageId);
                }

                return new Exception?[messages.Count];
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            {
                if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                {
                    return;
                }
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task a_backlog_is_drained_by_concurrent_passes_that_send_every_email_exactly_once(int passes)
    {
        var relay = new CountingRelay(awaitSecondPass: passes > 1);
        await using var app = new TestApp(
            settings: new() { ["Outbox:BatchSize"] = "4", ["Outbox:ConcurrentPasses"] = passes.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            services: s => s.AddSingleton<IEmailTransport>(relay));
        for (var i = 0; i < 30; i++)
        {
            await app.EnrolAsync($"T-{i}");
        }

        var tick = await app.TickAsync();

        Assert.Equal(30, tick.GetProperty("effectsSent").GetInt32());
        Assert.Equal(30, relay.MessageIds.Count);
        Assert.Equal(30, relay.MessageIds.Distinct().Count());
        Assert.Equal(30, app.Count("outbox", "status = 'sent'"));
        Assert.Equal(Math.Min(passes, 2), Math.Min(relay.MostAtOnce, 2));
    }
}
