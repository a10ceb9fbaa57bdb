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
}
