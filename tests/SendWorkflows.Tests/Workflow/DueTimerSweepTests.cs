using Microsoft.Extensions.Logging.Abstractions;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Workflow;

/// <summary>
/// The due-timer sweep reads a batch of enrolments together, decides them in memory and saves the
/// decisions together. Batching must change no outcome: each decision is still checked against the
/// version it was made on, and one enrolment that cannot be saved holds up no other. Runs on both stores.
/// </summary>
public sealed class DueTimerSweepTests
{
    /// <summary>A week after enrolling on the default programme, nobody has started: everyone's timer is due.</summary>
    private static readonly TimeSpan UntilNotStartedIsDue = TimeSpan.FromDays(7) + TimeSpan.FromHours(1);

    private static EnrolmentWorkflow Sweep(TestApp app, IWorkflowStore store) =>
        new(store, app.Service<ProgrammeCatalogue>(), app.Clock, app.Service<WorkSignal>(), NullLogger<EnrolmentWorkflow>.Instance);

    private static async Task<List<string>> EnrolAsync(TestApp app, int people)
    {
        var ids = new List<string>();
        for (var i = 0; i < people; i++)
        {
            ids.Add(await app.EnrolAsync($"T-{i}"));
        }

        return ids;
    }

    private static long TimerEvents(TestApp app, string id) => app.Count("enrolment_events", $"enrolment_id = '{id}' AND type = 'timer_fired'");

    private static long NotStartedNudges(TestApp app, string id) => app.Count("outbox", $"enrolment_id = '{id}' AND template = 'not-started'");

    [Fact]
    public async Task a_batch_of_due_timers_is_read_once_saved_once_and_everyone_gets_one_nudge()
    {
        await using var app = new TestApp();
        var people = await EnrolAsync(app, 5);
        app.Clock.Advance(UntilNotStartedIsDue);
        var (store, recorder) = RecordingStore.Wrap(app.Service<IWorkflowStore>());

        var fired = await Sweep(app, store).FireDueTimersAsync(10, CancellationToken.None);

        Assert.Equal(5, fired);
        var calls = recorder.TakeCalls();
        Assert.Equal(1, calls.Count(c => c == nameof(IWorkflowStore.GetEnrolmentsAsync)));
        Assert.Equal(1, calls.Count(c => c == nameof(IWorkflowStore.SaveDecisionsAsync)));
        Assert.DoesNotContain(nameof(IWorkflowStore.SaveDecisionAsync), calls);
        var now = app.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var id in people)
        {
            Assert.Equal(1, TimerEvents(app, id));
            Assert.Equal(1, NotStartedNudges(app, id));
            Assert.Equal(2, app.Scalar($"SELECT version FROM enrolments WHERE id = '{id}'"));
            Assert.True(app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{id}'") > now);
        }

        // Fired once: the next sweep finds nothing due and writes nothing.
        Assert.Equal(0, await Sweep(app, store).FireDueTimersAsync(10, CancellationToken.None));
        Assert.All(people, id => Assert.Equal(1, NotStartedNudges(app, id)));
    }

    [Fact]
    public async Task a_progress_event_saved_while_its_batch_was_being_decided_is_not_overwritten_and_the_others_still_fire()
    {
        await using var app = new TestApp();
        var people = await EnrolAsync(app, 3);
        var started = people[1];
        app.Clock.Advance(UntilNotStartedIsDue);
        var inner = app.Service<IWorkflowStore>();
        var raced = false;
        var (store, _) = RecordingStore.Wrap(inner, (method, args) =>
        {
            if (method.Name != nameof(IWorkflowStore.GetEnrolmentsAsync) || raced)
            {
                return null;
            }

            // The sweep reads its batch; before it saves, the LMS reports a module for one of them.
            raced = true;
            var read = inner.GetEnrolmentsAsync((IReadOnlyCollection<Guid>)args![0]!, CancellationToken.None).GetAwaiter().GetResult();
            app.Admin().PostAsync($"/api/v1/enrolments/{started}/modules/identification/completion", null).GetAwaiter().GetResult()
                .EnsureSuccessStatusCode();
            return Task.FromResult(read);
        });

        var fired = await Sweep(app, store).FireDueTimersAsync(10, CancellationToken.None);

        Assert.True(raced);
        Assert.Equal(2, fired);

        // The stale decision (a not-started nudge for someone who has just started) wrote nothing:
        // the state, the version and the next wake are the progress event's.
        Assert.Equal("in_progress", await app.StatusOfAsync(started));
        Assert.Equal(2, app.Scalar($"SELECT version FROM enrolments WHERE id = '{started}'"));
        Assert.Equal(0, TimerEvents(app, started));
        Assert.Equal(0, NotStartedNudges(app, started));
        Assert.True(app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{started}'") > app.Clock.GetUtcNow().ToUnixTimeMilliseconds(),
            "the progress event's next wake was overwritten");
        foreach (var id in people.Where(p => p != started))
        {
            Assert.Equal(1, TimerEvents(app, id));
            Assert.Equal(1, NotStartedNudges(app, id));
        }
    }

    [Fact]
    public async Task when_a_batch_cannot_be_saved_together_its_timers_fire_one_by_one_and_only_the_bad_one_is_set_aside()
    {
        await using var app = new TestApp();
        var people = await EnrolAsync(app, 4);
        var bad = Guid.Parse(people[2]);
        app.Clock.Advance(UntilNotStartedIsDue);
        var (store, _) = RecordingStore.Wrap(app.Service<IWorkflowStore>(), (method, args) => method.Name switch
        {
            nameof(IWorkflowStore.SaveDecisionsAsync) =>
                Task.FromException<IReadOnlyList<SaveOutcome>>(new InvalidOperationException("the store refused the batch")),
            nameof(IWorkflowStore.SaveDecisionAsync) when ((DecisionWrite)args![0]!).State.Id == bad =>
                Task.FromException<SaveOutcome>(new InvalidOperationException("the store refused this enrolment")),
            _ => null,
        });

        var fired = await Sweep(app, store).FireDueTimersAsync(10, CancellationToken.None);

        Assert.Equal(3, fired);
        foreach (var id in people.Where(p => p != people[2]))
        {
            Assert.Equal(1, TimerEvents(app, id));
            Assert.Equal(1, NotStartedNudges(app, id));
        }

        Assert.Equal(0, TimerEvents(app, people[2]));
        Assert.Equal(0, NotStartedNudges(app, people[2]));
        var retryAt = app.Clock.GetUtcNow() + EnrolmentWorkflow.StuckTimerRetry;
        Assert.Equal(retryAt.ToUnixTimeMilliseconds(), app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{people[2]}'"));
    }

    [Fact]
    public async Task a_broken_enrolment_among_many_is_set_aside_and_everyone_else_in_its_batch_fires()
    {
        await using var app = new TestApp();
        var people = await EnrolAsync(app, 6);
        var broken = people[3];
        app.Execute($"UPDATE enrolments SET state = '{{\"not\": \"a state\"}}' WHERE id = '{broken}'");
        app.Clock.Advance(UntilNotStartedIsDue);

        var fired = await Sweep(app, app.Service<IWorkflowStore>()).FireDueTimersAsync(10, CancellationToken.None);

        Assert.Equal(5, fired);
        Assert.All(people.Where(p => p != broken), id => Assert.Equal(1, NotStartedNudges(app, id)));
        var retryAt = app.Clock.GetUtcNow() + EnrolmentWorkflow.StuckTimerRetry;
        Assert.Equal(retryAt.ToUnixTimeMilliseconds(), app.Scalar($"SELECT next_wake_at FROM enrolments WHERE id = '{broken}'"));
    }

    /// <summary>Each decision of a saved batch gets the outcome it would get on its own, and a refused one writes nothing.</summary>
    [Fact]
    public async Task decisions_saved_together_each_get_their_own_outcome()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        var now = ManualClock.Monday9am;
        var people = Enumerable.Range(0, 4).Select(i => TestStore.NewEnrolment(i, now)).ToList();
        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await tx.InsertEnrolmentsAsync(people.Select(p => new NewEnrolment(p, now, "enrolled", new Enrolled(p.Staff), [])).ToList(), now);
            await tx.CommitAsync();
        }

        EmailEffect Nudge(int i) => new("not-started", $"{people[i].Id:N}:not-started:1",
            new EmailRecipient(people[i].Staff.Email, "Nia Adebayo"), new Dictionary<string, string>());
        DecisionWrite Timer(int i, long version, string key, EnrolmentStatus status) => new(
            key, new TimerFired(now, version), people[i] with { Status = status }, version, now.AddDays(7), [Nudge(i)]);

        // Person 1's timer is already stored (saved alone earlier), so the batch repeats it.
        Assert.Equal(SaveOutcome.Saved, await store.SaveDecisionAsync(Timer(1, 1, "timer:1", EnrolmentStatus.Enrolled), now, CancellationToken.None));
        var outcomes = await store.SaveDecisionsAsync(
        [
            Timer(0, 1, "timer:0", EnrolmentStatus.Enrolled),
            Timer(1, 2, "timer:1", EnrolmentStatus.Enrolled), // the same event again
            Timer(2, 0, "timer:2", EnrolmentStatus.Enrolled), // decided on a version another writer has since saved over
            Timer(3, 1, "timer:3", EnrolmentStatus.Lapsed), // one that changes the status
        ], now, CancellationToken.None);

        Assert.Equal([SaveOutcome.Saved, SaveOutcome.Duplicate, SaveOutcome.VersionMoved, SaveOutcome.Saved], outcomes);
        long Count(string table, string where) =>
            long.Parse(TestStore.Text(TestStore.ConnectionString(open.Root), $"SELECT COUNT(*) FROM {table} WHERE {where}")!,
                System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, Count("enrolment_events", $"enrolment_id = '{people[0].Id}' AND event_key = 'timer:0'"));
        Assert.Equal(1, Count("enrolment_events", $"enrolment_id = '{people[1].Id}' AND event_key = 'timer:1'"));
        Assert.Equal(0, Count("enrolment_events", $"enrolment_id = '{people[2].Id}' AND type = 'timer_fired'"));
        Assert.Equal(1, Count("enrolments", $"id = '{people[0].Id}' AND version = 2 AND status = 'enrolled'"));
        Assert.Equal(1, Count("enrolments", $"id = '{people[1].Id}' AND version = 2"));
        Assert.Equal(1, Count("enrolments", $"id = '{people[2].Id}' AND version = 1"));
        Assert.Equal(1, Count("enrolments", $"id = '{people[3].Id}' AND version = 2 AND status = 'lapsed'"));
        Assert.Equal(3, Count("outbox", "template = 'not-started'"));
        Assert.Equal(0, Count("outbox", $"enrolment_id = '{people[2].Id}'"));
        Assert.Equal((await store.GetEnrolmentsAsync([people[0].Id, people[3].Id, Guid.NewGuid()], CancellationToken.None)).Select(e => e.State.Id).Order(),
            new[] { people[0].Id, people[3].Id }.Order());
    }
}
