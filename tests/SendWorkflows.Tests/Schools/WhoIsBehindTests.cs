using System.Collections.Immutable;
using SendWorkflows.Programmes;
using SendWorkflows.Schools;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Schools;

/// <summary>The reasons a digest gives, decided from state alone: no database, no clock.</summary>
public sealed class WhoIsBehindTests
{
    private static readonly DateTimeOffset Enrolled = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    private static readonly ProgrammeDefinition Programme = new(
        "p", "Programme", "Issuer",
        [new ModuleDefinition("m1", "One", 30, true, []), new ModuleDefinition("m2", "Two", 30, true, []), new ModuleDefinition("extra", "Extra", 15, false, [])],
        LiveSessionsRequired: 1,
        CompletionWindow: TimeSpan.FromDays(100),
        new NudgeSettings(TimeSpan.FromDays(7), TimeSpan.FromDays(14), null, 0, TimeSpan.FromDays(3), null, [], null, null, []),
        new CertificateSettings("Certificate", null, TimeSpan.FromDays(30)));

    private static EnrolmentState Person(EnrolmentStatus status, params (string Module, int Day)[] modules) => new()
    {
        Id = Guid.NewGuid(),
        ProgrammeId = "p",
        ProgrammeVersion = 1,
        SchoolUrn = "100004",
        Staff = new StaffMember("T-1", "Nia", "Adebayo", "nia@school.example.org", StaffRole.Teacher),
        Status = status,
        EnrolledAt = Enrolled,
        Deadline = Enrolled.AddDays(100),
        ModulesCompleted = modules.ToImmutableSortedDictionary(m => m.Module, m => Enrolled.AddDays(m.Day), StringComparer.Ordinal),
    };

    private static BehindReason? On(int day, EnrolmentState s) => WhoIsBehind.Assess(s, Programme, Enrolled.AddDays(day));

    [Fact]
    public void not_started_counts_from_enrolment_after_the_programmes_not_started_nudge()
    {
        Assert.Null(On(6, Person(EnrolmentStatus.Enrolled)));
        Assert.Equal(BehindReason.NotStarted, On(7, Person(EnrolmentStatus.Enrolled)));
    }

    [Fact]
    public void stalled_counts_from_the_latest_progress_not_from_enrolment()
    {
        var person = Person(EnrolmentStatus.InProgress, ("m1", 1), ("extra", 10));
        Assert.Null(On(23, person));
        Assert.Equal(BehindReason.Stalled, On(24, person));
        Assert.Equal("No progress since 12 November 2026.", WhoIsBehind.Describe(BehindReason.Stalled, person, Programme, TimeZoneInfo.Utc));
    }

    [Fact]
    public void online_modules_done_counts_from_the_last_required_module_and_a_missed_session_is_no_booking()
    {
        var waiting = Person(EnrolmentStatus.AwaitingLiveSession, ("m1", 1), ("m2", 5));
        Assert.Null(On(7, waiting));
        Assert.Equal(BehindReason.NoLiveSessionBooked, On(8, waiting));

        var booked = waiting with { Sessions = waiting.Sessions.SetItem("s1", new LiveSessionRecord(true, Enrolled.AddDays(30), null, false)) };
        Assert.Null(On(8, booked));

        var missed = waiting with { Sessions = waiting.Sessions.SetItem("s1", new LiveSessionRecord(true, Enrolled.AddDays(6), null, true)) };
        Assert.Equal(BehindReason.NoLiveSessionBooked, On(8, missed));
    }

    [Fact]
    public void the_most_serious_reason_wins()
    {
        var bouncedAndNotStarted = Person(EnrolmentStatus.Enrolled) with { EmailBouncedAt = Enrolled.AddDays(1) };
        Assert.Equal(BehindReason.EmailUndeliverable, On(8, bouncedAndNotStarted));
        Assert.Equal(BehindReason.DeadlinePassed, On(100, bouncedAndNotStarted));
        Assert.Equal(BehindReason.NotStarted, On(90, Person(EnrolmentStatus.Enrolled)));
    }

    [Fact]
    public void a_deadline_passes_even_before_the_sweep_lapses_the_enrolment()
    {
        Assert.Equal(BehindReason.DeadlineSoon, On(86, Person(EnrolmentStatus.InProgress, ("m1", 80))));
        Assert.Equal(BehindReason.DeadlinePassed, On(100, Person(EnrolmentStatus.InProgress, ("m1", 95))));
        Assert.Equal(BehindReason.DeadlinePassed, On(101, Person(EnrolmentStatus.Lapsed, ("m1", 95)) with { LapsedAt = Enrolled.AddDays(100) }));
    }

    [Fact]
    public void completed_and_withdrawn_people_are_never_behind()
    {
        var completed = Person(EnrolmentStatus.Completed, ("m1", 1), ("m2", 2)) with { CompletedAt = Enrolled.AddDays(20) };
        var withdrawn = Person(EnrolmentStatus.Withdrawn) with { WithdrawnAt = Enrolled.AddDays(1), EmailBouncedAt = Enrolled };
        foreach (var day in new[] { 8, 95, 150 })
        {
            Assert.Null(On(day, completed));
            Assert.Null(On(day, withdrawn));
        }
    }

    [Fact]
    public void a_programme_without_nudges_lists_only_deadlines()
    {
        var plain = Programme with { Nudges = null };
        Assert.Null(WhoIsBehind.Assess(Person(EnrolmentStatus.Enrolled), plain, Enrolled.AddDays(50)));
        Assert.Equal(BehindReason.DeadlineSoon, WhoIsBehind.Assess(Person(EnrolmentStatus.Enrolled), plain, Enrolled.AddDays(86)));
    }
}
