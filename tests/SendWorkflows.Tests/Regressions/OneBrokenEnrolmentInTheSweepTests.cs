using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// The sweep fired all due timers in one transaction, so one enrolment that could not be processed
/// rolled back the whole batch on every pass, and the outbox never got its turn.
/// </summary>
public sealed class OneBrokenEnrolmentInTheSweepTests
{
    [Fact]
    public async Task a_broken_enrolment_is_set_aside_while_the_others_lapse_and_email_still_goes_out()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync("short", window: "P10D");
        var healthy = await app.EnrolAsync("T-1", programme: "short");
        var broken = await app.EnrolAsync("T-2", programme: "short");
        app.Execute($"UPDATE enrolments SET state = '{{\"not\": \"a state\"}}' WHERE id = '{broken}'");

        app.Clock.Advance(TimeSpan.FromDays(10));
        var tick = await app.TickAsync();

        Assert.Equal(1, tick.GetProperty("timersFired").GetInt32());
        Assert.Equal(2, tick.GetProperty("effectsSent").GetInt32());
        Assert.Equal("lapsed", await app.StatusOfAsync(healthy));
        var retryAt = app.Clock.GetUtcNow() + EnrolmentWorkflow.StuckTimerRetry;
        Assert.Equal(retryAt.ToUnixTimeMilliseconds(), app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{broken}'"));
        Assert.Equal(0, (await app.TickAsync()).GetProperty("timersFired").GetInt32());
    }
}
