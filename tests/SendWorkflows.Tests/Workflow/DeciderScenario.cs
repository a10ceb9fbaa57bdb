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

    public Decision Apply(WorkflowEvent evt)
    {
        var decision = EnrolmentDecider.Decide(State, evt, Definition, Now);
        Last = decision;
        if (!decision.Rejected)
        {
            State = decision.State;
            NextWakeAt = decision.NextWakeAt;
            Effects.AddRange(decision.Effects);
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

    public int EmailsOf(string template) => Effects.OfType<EmailEffect>().Count(e => e.Template == template);

    public IReadOnlyList<IssueCertificate> CertificatesIssued => Effects.OfType<IssueCertificate>().ToList();
}
