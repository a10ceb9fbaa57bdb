using System.Net;
using System.Net.Http.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// A deadline kept to the tick while next_wake_at is stored to the millisecond: a sweep in the gap
/// between the two found the enrolment due, changed nothing, used up the timer's event key, and
/// the enrolment never lapsed (and the tick spun for its whole budget).
/// </summary>
public sealed class SubMillisecondDeadlineTests
{
    private static readonly DateTimeOffset OddStart = ManualClock.Monday9am.AddTicks(4_321);

    [Fact]
    public async Task an_enrolment_started_at_a_sub_millisecond_time_lapses_when_its_stored_wake_time_comes()
    {
        var clock = new ManualClock(OddStart);
        await using var app = new TestApp(clock: clock);
        await app.PublishSmallProgrammeAsync("short", window: "P10D");
        var id = await app.EnrolAsync("T-1", programme: "short");

        var wake = app.Scalar("SELECT next_wake_at FROM enrolments");
        clock.Set(DateTimeOffset.FromUnixTimeMilliseconds(wake));
        var tick = await app.TickAsync();

        Assert.Equal(1, tick.GetProperty("timersFired").GetInt32());
        Assert.Equal("lapsed", await app.StatusOfAsync(id));
        Assert.Equal(0, app.Count("enrolments", "next_wake_at IS NOT NULL"));
    }

    [Fact]
    public async Task repeating_an_enrolment_with_the_same_details_writes_nothing_at_a_sub_millisecond_time()
    {
        await using var app = new TestApp(clock: new ManualClock(OddStart));
        await app.EnrolAsync("T-1");
        var again = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-1"));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, app.Count("enrolment_events"));
        Assert.Equal(1, app.Scalar("SELECT version FROM enrolments"));
    }
}
