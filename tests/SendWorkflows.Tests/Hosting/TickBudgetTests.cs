using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Email;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

public sealed class TickBudgetTests
{
    /// <summary>A relay that never answers until cancelled.</summary>
    private sealed class SilentRelay : IEmailTransport
    {
        public int Calls;

        public async Task SendAsync(EmailMessage message, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            await Task.Delay(Timeout.Infinite, ct);
        }
    }

    [Fact]
    public async Task a_tick_stops_at_its_budget_even_when_the_email_relay_never_answers()
    {
        var relay = new SilentRelay();
        await using var app = new TestApp(services: s => s.AddSingleton<IEmailTransport>(relay));
        await app.EnrolAsync("T-1");

        var tick = app.Pump.RunOnceAsync(CancellationToken.None, budget: TimeSpan.FromMilliseconds(300));
        var finished = await Task.WhenAny(tick, Task.Delay(TimeSpan.FromSeconds(30))) == tick;

        Assert.True(finished, "the tick must return once its budget is spent");
        var result = await tick;
        Assert.True(result.Ran);
        Assert.Equal(0, result.EffectsSent);
        Assert.Equal(1, relay.Calls);
        // Nothing is lost: the email is still pending, and goes out on a later tick.
        Assert.Equal(1, app.Count("outbox", "status = 'pending'"));
    }

    /// <summary>A relay that never answers its first call until cancelled, then takes every email.</summary>
    private sealed class SilentOnceRelay : IEmailTransport
    {
        public int Calls;
        public int Sent;

        public async Task SendAsync(EmailMessage message, CancellationToken ct)
        {
            if (Interlocked.Increment(ref Calls) == 1)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            Interlocked.Increment(ref Sent);
        }
    }

    [Fact]
    public async Task what_a_tick_claimed_but_ran_out_of_budget_for_goes_out_on_the_next_tick_not_after_its_lease()
    {
        var relay = new SilentOnceRelay();
        await using var app = new TestApp(services: s => s.AddSingleton<IEmailTransport>(relay));
        await app.EnrolAsync("T-1");

        var cut = await app.Pump.RunOnceAsync(CancellationToken.None, budget: TimeSpan.FromMilliseconds(300));
        Assert.Equal((0, 1), (cut.EffectsSent, relay.Calls));
        Assert.Equal(1, app.Count("outbox", "status = 'pending' AND attempts = 0 AND lease_until IS NULL"));

        // The clock has not moved, so an email still held by the cut tick's lease (minutes) would not be due.
        var next = await app.Pump.RunOnceAsync(CancellationToken.None);
        Assert.Equal((1, 1), (next.EffectsSent, relay.Sent));
        Assert.Equal(1, app.Count("outbox", "status = 'sent'"));
    }
}
