using SendWorkflows.Programmes;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Workflow;

/// <summary>Builds decider inputs: a small programme, an enrolment, and events applied in turn with their effects collected.</summary>
public sealed class DeciderScenario
{
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    public static ProgrammeDefinition Programme(int liveSessions = 1, int windowDays = 30) => new(
        "small", "Small programme", "Test issuer",
        [
            new ModuleDefinition("m1", "Module one", 30, true, []),
            new ModuleDefinition("m2", "Module two", 45, true, []),
            new ModuleDefinition("extra", "Optional extra", 15, false, []),
        ],
        liveSessions, TimeSpan.FromDays(windowDays), null, new CertificateSettings("Certificate", null, TimeSpan.FromDays(30)));

    /// <summary>A programme with reminders: the default programme's rules, without quiet hours unless given.</summary>
    public static ProgrammeDefinition WithNudges(
        ProgrammeDefinition programme, TimeSpan? notStarted = null, TimeSpan? stalled = null, TimeSpan? repeatEvery = null, int maxRepeats = 0,
        TimeSpan? bookSession = null, TimeSpan? sessionReminder = null, TimeSpan[]? deadline = null, TimeSpan? minGap = null,
        QuietHours? quiet = null, NudgePause[]? pauses = null) =>
        programme with
        {
            Nudges = new NudgeSettings(notStarted, stalled, repeatEvery, maxRepeats, bookSession, sessionReminder,
                (deadline ?? []).OrderDescending().ToList(), minGap, quiet, pauses ?? []),
        };

    public static readonly StaffMember Staff = new("T-1", "Nguyễn Thị", "Hương", "huong@example.org", StaffRole.Teacher);

    public DeciderScenario(ProgrammeDefinition? programme = null)
    {
        Definition = programme ?? Programme();
        var version = new ProgrammeVersion(Definition, 1, Start, "{}");
        var decision = EnrolmentDecider.Enrol(Guid.Parse("0190f000-0000-7000-8000-000000000001"), "100004", Staff, version, Start);
        State = decision.State;
        NextWakeAt = decision.NextWakeAt;
        Effects.AddRange(decision.Effects);
        Now = Start;
    }

    public ProgrammeDefinition Definition { get; }
    public EnrolmentState State { get; private set; }
    public DateTimeOffset? NextWakeAt { get; private set; }
    public DateTimeOffset Now { get; set; }
    public List<Effect> Effects { get; } = [];
    public Decision? Last { get; private set; }

    /// <summary>Every decision made, with the state it started from.</summary>
    public List<(EnrolmentState Before, WorkflowEvent Event, DateTimeOffset At, Decision Decision)> History { get; } = [];

    public Decision Apply(WorkflowEvent evt)
    {
        var decision = EnrolmentDecider.Decide(State, evt, Definition, Now);
        History.Add((State, evt, Now, decision));
        Last = decision;
        if (!decision.Rejected)
        {
            State = decision.State;
            NextWakeAt = decision.NextWakeAt;
            Effects.AddRange(decision.Effects);
            Sent.AddRange(decision.Effects.OfType<EmailEffect>().Select(e => (e.Template, Now, e)));
        }

        return decision;
    }

    public DeciderScenario After(TimeSpan elapsed)
    {
        Now += elapsed;
        return this;
    }

    public void CompleteModules(params string[] modules)
    {
        foreach (var m in modules)
        {
            Apply(new ModuleCompleted(m, Now));
        }
    }

    /// <summary>Every email decided, with the moment it was decided.</summary>
    public List<(string Template, DateTimeOffset At, EmailEffect Email)> Sent { get; } = [];

    /// <summary>Does what the sweep does: fires each due timer in turn until <paramref name="until"/>.</summary>
    public DeciderScenario RunUntil(DateTimeOffset until)
    {
        var guard = 0;
        while (NextWakeAt is { } wake && wake <= until)
        {
            if (++guard > 10_000)
            {
                throw new InvalidOperationException("the timer keeps firing without moving on");
            }

            Now = wake > Now ? wake : Now;
            Apply(new TimerFired(wake));
        }

        Now = until > Now ? until : Now;
        return this;
    }

    public List<DateTimeOffset> SentAt(string template) => Sent.Where(s => s.Template == template).Select(s => s.At).ToList();

    public int EmailsOf(string template) => Effects.OfType<EmailEffect>().Count(e => e.Template == template);

    public IReadOnlyList<IssueCertificate> CertificatesIssued => Effects.OfType<IssueCertificate>().ToList();
}
