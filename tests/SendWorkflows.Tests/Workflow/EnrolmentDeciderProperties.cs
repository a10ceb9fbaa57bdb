using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using SendWorkflows.Http;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Workflow;

/// <summary>
/// DESIGN §3: whatever order progress arrives in, and however often each event is delivered, the
/// enrolment reaches the same state and completes at most once.
/// </summary>
public sealed class EnrolmentDeciderProperties
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(500);

    /// <summary>
    /// A valid history: some of the progress facts a person could produce, each at a time within the
    /// window. Bookings are left out on purpose: they are commands judged against the current state
    /// (a full session, an enrolment already completed), not facts, so their order matters.
    /// </summary>
    private static readonly Gen<List<WorkflowEvent>> Histories =
        from m1 in Gen.Choose(0, 20 * 24)
        from m2 in Gen.Choose(0, 20 * 24)
        from extra in Gen.Choose(0, 20 * 24)
        from attendedLeeds in Gen.Choose(0, 20 * 24)
        from attendedYork in Gen.Choose(0, 20 * 24)
        from facts in Gen.SubListOf(new WorkflowEvent[]
        {
            new ModuleCompleted("m1", At(m1)),
            new ModuleCompleted("m2", At(m2)),
            new ModuleCompleted("m2", At(m2 + 5)),
            new ModuleCompleted("extra", At(extra)),
            new SessionAttended("leeds", At(attendedLeeds)),
            new SessionMissed("york"),
            new SessionAttended("york", At(attendedYork)),
        })
        select facts.ToList();

    /// <summary>The same history reordered, with some events delivered more than once.</summary>
    private static Gen<(List<WorkflowEvent> Original, List<WorkflowEvent> Delivered)> Deliveries =>
        from history in Histories
        from repeats in Gen.SubListOf((IEnumerable<WorkflowEvent>)history)
        from delivered in Gen.Shuffle(history.Concat(repeats).Concat(repeats).ToArray())
        select (history, delivered.ToList());

    [Fact]
    public void any_reordering_or_duplication_of_progress_reaches_the_same_state()
    {
        Prop.ForAll(Deliveries.ToArbitrary(), pair =>
        {
            var inOrder = Replay(pair.Original);
            var shuffled = Replay(pair.Delivered);
            return Fingerprint(inOrder.State) == Fingerprint(shuffled.State);
        }).Check(Runs);
    }

    [Fact]
    public void any_delivery_order_completes_at_most_once_and_exactly_once_when_every_requirement_is_met()
    {
        Prop.ForAll(Deliveries.ToArbitrary(), pair =>
        {
            var s = Replay(pair.Delivered);
            var completions = s.EmailsOf(EmailTemplates.Completion);
            var requirementsMet =
                pair.Original.OfType<ModuleCompleted>().Select(m => m.ModuleId).ToHashSet().IsSupersetOf(["m1", "m2"]) &&
                pair.Original.OfType<SessionAttended>().Any();
            return completions == (requirementsMet ? 1 : 0) &&
                   (s.State.Status == EnrolmentStatus.Completed) == requirementsMet;
        }).Check(Runs);
    }

    [Fact]
    public void a_timer_never_leaves_an_enrolment_due_again_at_the_same_moment()
    {
        // Otherwise the sweep would pick the same enrolment up forever.
        var gen = from history in Histories from hours in Gen.Choose(0, 40 * 24) select (history, hours);
        Prop.ForAll(gen.ToArbitrary(), input =>
        {
            var s = Replay(input.history);
            s.Now = DeciderScenario.Start.AddHours(input.hours);
            var decision = s.Apply(new TimerFired(s.Now));
            return decision.NextWakeAt is null || decision.NextWakeAt > s.Now;
        }).Check(Runs);
    }

    /// <summary>
    /// A life of an enrolment under a programme that reminds often: steps of a few hours to a few
    /// days, each bringing one event (or only the sweep), with the sweep firing every due timer.
    /// </summary>
    private static readonly Gen<List<(int Hours, int Event)>> Lives =
        Gen.ListOf(from hours in Gen.Choose(0, 96) from evt in Gen.Choose(0, 13) select (hours, evt)).Select(l => l.Take(40).ToList());

    private static WorkflowEvent? EventFor(int choice, DateTimeOffset now) => choice switch
    {
        0 => new ModuleCompleted("m1", now),
        1 => new ModuleCompleted("m2", now),
        2 => new ModuleCompleted("extra", now),
        3 => new LiveSessionBooked("leeds", now.AddDays(2), "Leeds", "Hall"),
        4 => new BookingCancelled("leeds"),
        5 => new SessionAttended("leeds", now),
        6 => new SessionMissed("leeds"),
        7 => new Withdrawn("moved school"),
        8 => new Reinstated(),
        9 => new PreferencesChanged(Reminders: false),
        10 => new PreferencesChanged(Reminders: true),
        11 => new DeadlineExtended(now.AddDays(10)),
        _ => null, // time passes; only the sweep runs
    };

    private static DeciderScenario Live(List<(int Hours, int Event)> steps)
    {
        var s = new DeciderScenario(NudgePolicyTestsProgramme);
        foreach (var (hours, choice) in steps)
        {
            s.RunUntil(s.Now.AddHours(hours));
            if (EventFor(choice, s.Now) is { } evt)
            {
                s.Apply(evt);
            }
        }

        s.RunUntil(s.Now.AddDays(60));
        return s;
    }

    private static readonly SendWorkflows.Programmes.ProgrammeDefinition NudgePolicyTestsProgramme = DeciderScenario.WithNudges(
        DeciderScenario.Programme(liveSessions: 1, windowDays: 20), notStarted: TimeSpan.FromDays(2), stalled: TimeSpan.FromDays(2),
        repeatEvery: TimeSpan.FromDays(2), maxRepeats: 3, bookSession: TimeSpan.FromDays(1), sessionReminder: TimeSpan.FromDays(1),
        deadline: [TimeSpan.FromDays(10), TimeSpan.FromDays(3)], minGap: TimeSpan.FromHours(20));

    [Fact]
    public void no_life_of_an_enrolment_sends_a_reminder_while_it_is_completed_or_withdrawn_or_unsubscribed()
    {
        Prop.ForAll(Lives.ToArbitrary(), steps =>
        {
            var s = Live(steps);
            return s.History.All(h =>
                !h.Decision.Effects.OfType<EmailEffect>().Any(e => EmailTemplates.IsNonEssential(e.Template)) ||
                h.Before is { CompletedAt: null, WithdrawnAt: null, RemindersOff: false } &&
                h.Decision.State is { CompletedAt: null, WithdrawnAt: null, RemindersOff: false });
        }).Check(Runs);
    }

    [Fact]
    public void no_life_of_an_enrolment_gets_two_reminders_closer_than_the_min_gap_or_leaves_its_timer_due()
    {
        Prop.ForAll(Lives.ToArbitrary(), steps =>
        {
            var s = Live(steps);
            var reminders = s.Sent.Where(x => EmailTemplates.IsNonEssential(x.Template)).Select(x => x.At).ToList();
            var spaced = reminders.Zip(reminders.Skip(1)).All(p => p.Second - p.First >= TimeSpan.FromHours(20));
            var timersMoveOn = s.History.Where(h => h.Event is TimerFired).All(h => h.Decision.NextWakeAt is null || h.Decision.NextWakeAt > h.At);
            return spaced && timersMoveOn;
        }).Check(Runs);
    }

    private static DeciderScenario Replay(IEnumerable<WorkflowEvent> events)
    {
        var s = new DeciderScenario();
        s.Now = DeciderScenario.Start.AddDays(21);
        foreach (var e in events)
        {
            s.Apply(e);
        }

        return s;
    }

    /// <summary>
    /// The state compared across orders. The certificate version is left out: it counts how many
    /// certificates were issued, which rightly depends on whether a late fact corrected one.
    /// </summary>
    private static string Fingerprint(EnrolmentState state) => JsonSerializer.Serialize(state with { CertificateVersion = 0 }, JsonBody.Options);

    private static DateTimeOffset At(int hours) => DeciderScenario.Start.AddHours(hours);
}
