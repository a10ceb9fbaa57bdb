using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Workflow;

public sealed class EnrolmentDeciderTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    [Fact]
    public void enrolling_sends_one_welcome_email_and_wakes_at_the_deadline()
    {
        var s = new DeciderScenario();

        Assert.Equal(EnrolmentStatus.Enrolled, s.State.Status);
        var welcome = Assert.IsType<EmailEffect>(Assert.Single(s.Effects));
        Assert.Equal(EmailTemplates.Welcome, welcome.Template);
        Assert.Equal("huong@example.org", welcome.To.Email);
        Assert.Equal("Nguyễn Thị", welcome.Model["givenName"]);
        Assert.Equal(DeciderScenario.Start.AddDays(30), s.State.Deadline);
        Assert.Equal(s.State.Deadline, s.NextWakeAt);
    }

    [Fact]
    public void completing_one_module_moves_to_in_progress()
    {
        var s = new DeciderScenario();
        s.After(Day).CompleteModules("m1");
        Assert.Equal(EnrolmentStatus.InProgress, s.State.Status);
    }

    [Fact]
    public void an_optional_module_counts_as_progress_but_not_toward_completion()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.After(Day).CompleteModules("extra");
        Assert.Equal(EnrolmentStatus.InProgress, s.State.Status);
        s.CompleteModules("m1");
        Assert.Equal(EnrolmentStatus.InProgress, s.State.Status);
    }

    [Fact]
    public void all_required_modules_done_waits_for_a_live_session()
    {
        var s = new DeciderScenario();
        s.After(Day).CompleteModules("m1", "m2");
        Assert.Equal(EnrolmentStatus.AwaitingLiveSession, s.State.Status);
        Assert.Null(s.State.CompletedAt);
        Assert.Equal(0, s.EmailsOf(EmailTemplates.Completion));
    }

    [Fact]
    public void attending_the_required_session_completes_with_exactly_one_completion_email()
    {
        var s = new DeciderScenario();
        s.After(Day).CompleteModules("m1", "m2");
        s.Apply(new LiveSessionBooked("leeds", s.Now.AddDays(5)));
        s.After(6 * Day).Apply(new SessionAttended("leeds", s.Now));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
        Assert.Equal(1, s.EmailsOf(EmailTemplates.Completion));

        // Anything after completion sends nothing more.
        s.Apply(new SessionAttended("york", s.Now));
        s.Apply(new ModuleCompleted("extra", s.Now));
        s.Apply(new TimerFired(s.State.Deadline));
        Assert.Equal(1, s.EmailsOf(EmailTemplates.Completion));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
    }

    [Fact]
    public void completion_time_is_when_the_last_requirement_was_met_not_when_it_was_reported()
    {
        var s = new DeciderScenario();
        var attended = s.Now.AddDays(2);
        var lastModule = s.Now.AddDays(4);
        s.After(10 * Day);
        s.Apply(new SessionAttended("leeds", attended));
        s.Apply(new ModuleCompleted("m1", s.Now.AddDays(-9)));
        s.Apply(new ModuleCompleted("m2", lastModule));
        Assert.Equal(lastModule, s.State.CompletedAt);
        Assert.Equal(s.State.CompletedAt?.ToString("d MMMM yyyy", System.Globalization.CultureInfo.InvariantCulture),
            s.Effects.OfType<EmailEffect>().Single(e => e.Template == EmailTemplates.Completion).Model["completedOn"]);
    }

    [Fact]
    public void a_completed_enrolment_never_wakes_again()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1", "m2");
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
        Assert.Null(s.NextWakeAt);
    }

    [Fact]
    public void the_same_module_completion_delivered_twice_changes_nothing_the_second_time()
    {
        var s = new DeciderScenario();
        var evt = new ModuleCompleted("m1", s.Now.AddHours(1));
        Assert.True(s.Apply(evt).Changed);
        var second = s.Apply(evt);
        Assert.False(second.Changed);
        Assert.Empty(second.Effects);
    }

    [Fact]
    public void a_later_report_of_an_already_completed_module_keeps_the_earliest_time()
    {
        var s = new DeciderScenario();
        s.Apply(new ModuleCompleted("m1", s.Now.AddHours(5)));
        s.Apply(new ModuleCompleted("m1", s.Now.AddHours(2)));
        Assert.False(s.Apply(new ModuleCompleted("m1", s.Now.AddHours(9))).Changed);
        Assert.Equal(s.Now.AddHours(2), s.State.ModulesCompleted["m1"]);
    }

    [Fact]
    public void a_module_the_programme_does_not_have_is_rejected_naming_moduleId()
    {
        var s = new DeciderScenario();
        var decision = s.Apply(new ModuleCompleted("no-such-module", s.Now));
        Assert.Equal(RejectionKind.Invalid, decision.Rejection?.Kind);
        Assert.Equal("moduleId", decision.Rejection?.Field);
    }

    [Fact]
    public void progress_for_a_withdrawn_enrolment_is_refused_as_a_conflict()
    {
        var s = new DeciderScenario();
        s.Apply(new Withdrawn("left the school"));
        Assert.Equal(EnrolmentStatus.Withdrawn, s.State.Status);
        Assert.Null(s.NextWakeAt);
        Assert.Equal(RejectionKind.Conflict, s.Apply(new ModuleCompleted("m1", s.Now)).Rejection?.Kind);
        Assert.Equal(RejectionKind.Conflict, s.Apply(new SessionAttended("leeds", s.Now)).Rejection?.Kind);
        Assert.Equal(RejectionKind.Conflict, s.Apply(new LiveSessionBooked("leeds", s.Now.AddDays(1))).Rejection?.Kind);
    }

    [Fact]
    public void withdrawing_twice_is_no_change_and_reinstating_restores_the_progress_status()
    {
        var s = new DeciderScenario();
        s.CompleteModules("m1", "m2");
        s.Apply(new Withdrawn(null));
        Assert.False(s.Apply(new Withdrawn(null)).Changed);
        s.After(Day).Apply(new Reinstated());
        Assert.Equal(EnrolmentStatus.AwaitingLiveSession, s.State.Status);
        Assert.Equal(s.State.Deadline, s.NextWakeAt);
    }

    [Fact]
    public void a_completed_enrolment_cannot_be_withdrawn()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1", "m2");
        Assert.Equal(RejectionKind.Conflict, s.Apply(new Withdrawn(null)).Rejection?.Kind);
    }

    [Fact]
    public void the_deadline_passing_lapses_an_open_enrolment_and_it_stops_waking()
    {
        var s = new DeciderScenario();
        s.CompleteModules("m1");
        s.Now = s.State.Deadline;
        s.Apply(new TimerFired(s.State.Deadline));
        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        Assert.Null(s.NextWakeAt);
    }

    [Fact]
    public void a_timer_that_fires_before_the_deadline_changes_nothing()
    {
        var s = new DeciderScenario();
        s.After(Day);
        var decision = s.Apply(new TimerFired(s.Now));
        Assert.False(decision.Changed);
        Assert.Equal(EnrolmentStatus.Enrolled, s.State.Status);
        Assert.Equal(s.State.Deadline, decision.NextWakeAt);
    }

    [Fact]
    public void extending_the_deadline_reopens_a_lapsed_enrolment_and_wakes_at_the_new_deadline()
    {
        var s = new DeciderScenario();
        s.CompleteModules("m1");
        s.Now = s.State.Deadline;
        s.Apply(new TimerFired(s.Now));
        var newDeadline = s.Now.AddDays(14);
        s.After(Day).Apply(new DeadlineExtended(newDeadline));
        Assert.Equal(EnrolmentStatus.InProgress, s.State.Status);
        Assert.Equal(newDeadline, s.State.Deadline);
        Assert.Equal(newDeadline, s.NextWakeAt);
    }

    [Fact]
    public void a_deadline_extension_must_be_later_than_the_current_deadline_and_in_the_future()
    {
        var s = new DeciderScenario();
        Assert.Equal("deadline", s.Apply(new DeadlineExtended(s.State.Deadline.AddDays(-1))).Rejection?.Field);
        s.Now = s.State.Deadline.AddDays(2);
        Assert.Equal("deadline", s.Apply(new DeadlineExtended(s.Now.AddDays(-1))).Rejection?.Field);
    }

    [Fact]
    public void progress_made_before_the_deadline_but_reported_after_it_lapsed_still_completes()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1");
        var doneInTime = s.State.Deadline.AddHours(-1);
        s.Now = s.State.Deadline;
        s.Apply(new TimerFired(s.Now));
        s.After(Day).Apply(new ModuleCompleted("m2", doneInTime));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
        Assert.Equal(doneInTime, s.State.CompletedAt);
    }

    [Fact]
    public void progress_after_the_deadline_is_kept_and_completes_once_the_deadline_is_extended()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1");
        s.Now = s.State.Deadline;
        s.Apply(new TimerFired(s.Now));
        s.After(Day).CompleteModules("m2");
        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        Assert.True(s.State.ModulesCompleted.ContainsKey("m2"));
        Assert.Equal(0, s.EmailsOf(EmailTemplates.Completion));

        s.Apply(new DeadlineExtended(s.Now.AddDays(7)));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
        Assert.Equal(1, s.EmailsOf(EmailTemplates.Completion));
    }

    [Fact]
    public void reinstating_after_the_deadline_has_passed_lapses()
    {
        var s = new DeciderScenario();
        s.Apply(new Withdrawn(null));
        s.Now = s.State.Deadline.AddDays(1);
        s.Apply(new Reinstated());
        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        Assert.Null(s.NextWakeAt);
    }

    [Fact]
    public void a_missed_session_followed_by_attendance_counts_as_attended()
    {
        var s = new DeciderScenario();
        s.CompleteModules("m1", "m2");
        s.Apply(new SessionMissed("leeds"));
        Assert.Equal(EnrolmentStatus.AwaitingLiveSession, s.State.Status);
        s.Apply(new SessionAttended("york", s.Now));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
    }

    [Fact]
    public void a_booking_can_be_cancelled_and_booked_again()
    {
        var s = new DeciderScenario();
        var starts = s.Now.AddDays(3);
        s.Apply(new LiveSessionBooked("leeds", starts));
        Assert.True(s.State.Sessions["leeds"].Booked);
        s.Apply(new BookingCancelled("leeds"));
        Assert.False(s.State.Sessions["leeds"].Booked);
        Assert.True(s.Apply(new LiveSessionBooked("leeds", starts)).Changed);
        Assert.False(s.Apply(new LiveSessionBooked("leeds", starts)).Changed);
    }

    [Fact]
    public void changed_contact_details_are_kept_without_sending_anything()
    {
        var s = new DeciderScenario();
        var corrected = DeciderScenario.Staff with { Email = "new@example.org", FamilyName = "Hương-Trần" };
        var decision = s.Apply(new ContactDetailsChanged(corrected));
        Assert.True(decision.Changed);
        Assert.Empty(decision.Effects);
        Assert.Equal(corrected, s.State.Staff);
        Assert.False(s.Apply(new ContactDetailsChanged(corrected)).Changed);
    }

    [Fact]
    public void a_programme_with_no_live_session_completes_on_the_last_required_module()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1");
        s.After(Day).CompleteModules("m2");
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
        Assert.Equal(s.Now, s.State.CompletedAt);
    }

    [Fact]
    public void an_earlier_report_after_completion_moves_the_completion_time_back_without_a_second_email()
    {
        // Found by the reordering property: the completion time must not depend on report order.
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.After(Day).CompleteModules("m1");
        s.After(Day).CompleteModules("m2");
        var completedLate = s.State.CompletedAt;
        s.Apply(new ModuleCompleted("m2", s.Now.AddHours(-12)));
        Assert.Equal(completedLate!.Value.AddHours(-12), s.State.CompletedAt);
        Assert.Equal(1, s.EmailsOf(EmailTemplates.Completion));
    }

    [Fact]
    public void completion_issues_certificate_version_one_and_a_corrected_name_issues_version_two()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1", "m2");
        Assert.Equal([1], s.CertificatesIssued.Select(c => c.Version));

        s.Apply(new ContactDetailsChanged(DeciderScenario.Staff with { Email = "new@example.org" }));
        Assert.Single(s.CertificatesIssued);
        s.Apply(new ContactDetailsChanged(DeciderScenario.Staff with { FamilyName = "Hương-Trần" }));
        Assert.Equal([1, 2], s.CertificatesIssued.Select(c => c.Version));
    }

    [Fact]
    public void an_earlier_completion_time_reported_after_issue_issues_a_corrected_certificate()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.After(Day).CompleteModules("m1");
        s.After(Day).CompleteModules("m2");
        s.Apply(new ModuleCompleted("m2", s.Now.AddHours(-6)));
        Assert.Equal([1, 2], s.CertificatesIssued.Select(c => c.Version));
        Assert.Equal(1, s.EmailsOf(EmailTemplates.Completion));
    }

    [Fact]
    public void a_revoked_certificate_is_never_reissued()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1", "m2");
        s.Apply(new CertificateRevoked("7K3M-9QZ2-X4TB", "issued in error"));
        s.Apply(new ContactDetailsChanged(DeciderScenario.Staff with { GivenName = "Hoa" }));
        Assert.Single(s.CertificatesIssued);
    }
}
