using System.Net.Http.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// A due timer whose enrolment another writer saved between the sweep's read and its write was
/// treated as stuck: logged as an error and its next wake overwritten to five minutes ahead, though
/// the other writer had just set the right one. Seen with several instances sweeping beside
/// progress events.
/// </summary>
public sealed class TimerThatLostARaceTests
{
    [Fact]
    public async Task a_timer_made_stale_by_another_writer_leaves_that_writers_next_wake_alone()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync("short", liveSessions: 0, window: "P10D");
        var id = await app.EnrolAsync("T-1", programme: "short");
        app.Clock.Advance(TimeSpan.FromDays(10)); // the deadline's timer is due
        var inner = app.Service<IWorkflowStore>();
        long? wakeSetByTheOtherWriter = null;
        var (store, _) = RecordingStore.Wrap(inner, (method, args) =>
        {
            if (method.Name != nameof(IWorkflowStore.GetEnrolmentsAsync) || wakeSetByTheOtherWriter is not null)
            {
                return null;
            }

            // The sweep reads the enrolment; before it writes, the school extends the deadline.
            var stale = inner.GetEnrolmentsAsync((IReadOnlyCollection<Guid>)args![0]!, CancellationToken.None).GetAwaiter().GetResult();
            var extended = app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension",
                new { deadline = app.Clock.GetUtcNow().AddDays(20) }).GetAwaiter().GetResult();
            extended.EnsureSuccessStatusCode();
            wakeSetByTheOtherWriter = app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{id}'");
            return Task.FromResult(stale);
        });
        var sweep = new EnrolmentWorkflow(store, app.Service<ProgrammeCatalogue>(), app.Clock, app.Service<WorkSignal>(),
            NullLogger<EnrolmentWorkflow>.Instance);

        await sweep.FireDueTimersAsync(10, CancellationToken.None);

        Assert.NotNull(wakeSetByTheOtherWriter);
        Assert.True(wakeSetByTheOtherWriter > app.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        Assert.Equal(wakeSetByTheOtherWriter, app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{id}'"));
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }
}
