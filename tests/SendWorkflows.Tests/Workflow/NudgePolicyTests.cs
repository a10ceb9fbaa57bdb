using SendWorkflows.Programmes;
using SendWorkflows.Workflow;
using static SendWorkflows.Tests.Workflow.DeciderScenario;

namespace SendWorkflows.Tests.Workflow;

/// <summary>The reminder rules of DESIGN §5 and the nudges issue, decided by the pure decider as the sweep would drive it.</summary>
public sealed class NudgePolicyTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);
    private static readonly QuietHours LondonEvenings = new("Europe/London", new TimeOnly(18, 0), new TimeOnly(8, 0), WeekdaysOnly: true);

    [Fact]
    public void not_started_is_sent_after_the_delay_then_repeats_up_to_max_repeats_and_stops()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 60), notStarted: 7 * Day, repeatEvery: 7 * Day, maxRepeats: 2));

        s.RunUntil(Start + 59 * Day);

        Assert.Equal([Start + 7 * Day, Start + 14 * Day, Start + 21 * Day], s.SentAt(EmailTemplates.NotStarted));
        Assert.Equal(Start + 60 * Day, s.NextWakeAt); // only the deadline is left to wake for
    }

    [Fact]
    public void stalled_counts_from_the_latest_progress_and_new_progress_starts_the_series_again()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 60), stalled: 5 * Day, repeatEvery: 5 * Day, maxRepeats: 1));
        s.After(Day).CompleteModules("m1");
        s.RunUntil(Start + 8 * Day);
        s.CompleteModules("extra"); // progress at day 8, before the repeat due on day 11

        s.RunUntil(Start + 40 * Day);

        Assert.Equal([Start + 6 * Day, Start + 13 * Day, Start + 18 * Day], s.SentAt(EmailTemplates.Stalled));
        Assert.Equal(0, s.EmailsOf(EmailTemplates.NotStarted)); // not configured
        var last = s.Sent.Last(x => x.Template == EmailTemplates.Stalled).Email;
        Assert.Equal("1", last.Model["modulesDone"]);
        Assert.Equal("Module two", last.Model["nextModule"]);
    }

    [Fact]
    public void live_session_reminders_follow_the_booking_a_no_show_and_the_min_gap()
    {
        var programme = WithNudges(Programme(liveSessions: 1, windowDays: 60), bookSession: 3 * Day, repeatEvery: 7 * Day, maxRepeats: 1,
            sessionReminder: 2 * Day, minGap: 2 * Day) with { BookingUrl = "https://booking.example.org/send" };
        var s = new DeciderScenario(programme);
        s.After(Day).CompleteModules("m1", "m2");
        s.RunUntil(Start + 5 * Day);
        s.Apply(new LiveSessionBooked("leeds", Start + 12 * Day, "Live session (Leeds)", "Leeds City Academy"));
        s.RunUntil(Start + 13 * Day);
        s.Apply(new SessionMissed("leeds"));

        s.RunUntil(Start + 40 * Day);

        Assert.Equal([Start + 4 * Day, Start + 15 * Day], s.SentAt(EmailTemplates.BookSession));
        Assert.Equal([Start + 10 * Day], s.SentAt(EmailTemplates.SessionReminder));
        Assert.Equal([Start + 13 * Day], s.SentAt(EmailTemplates.MissedSession));
        var reminder = s.Sent.Single(x => x.Template == EmailTemplates.SessionReminder).Email;
        Assert.Equal("Live session (Leeds)", reminder.Model["sessionTitle"]);
        Assert.Equal("Leeds City Academy", reminder.Model["sessionLocation"]);
        Assert.Equal("Saturday 5 December 2026 at 9am", reminder.Model["sessionStartsAt"]);
        Assert.Equal("https://booking.example.org/send", s.Sent.Single(x => x.Template == EmailTemplates.MissedSession).Email.Model["actionUrl"]);
    }

    [Fact]
    public void a_moved_session_gets_a_reminder_for_its_new_time()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 60), sessionReminder: 2 * Day));
        s.Apply(new LiveSessionBooked("leeds", Start + 12 * Day, "Leeds", "Hall"));
        s.RunUntil(Start + 11 * Day);
        s.Apply(new LiveSessionBooked("leeds", Start + 20 * Day, "Leeds", "Hall"));

        s.RunUntil(Start + 30 * Day);

        Assert.Equal([Start + 10 * Day, Start + 18 * Day], s.SentAt(EmailTemplates.SessionReminder));
    }

    [Fact]
    public void deadline_reminders_go_at_each_offset_and_a_nearer_one_replaces_a_farther_one_due_at_the_same_time()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 20), deadline: [14 * Day, 3 * Day]));
        s.RunUntil(Start + 19 * Day);
        Assert.Equal([Start + 6 * Day, Start + 17 * Day], s.SentAt(EmailTemplates.Deadline));
        Assert.Equal(["14 days", "3 days"], s.Sent.Where(x => x.Template == EmailTemplates.Deadline).Select(x => x.Email.Model["timeLeft"]));

        // The sweep did not run for a while (an outage): both offsets are due at once, and only the nearer goes.
        var late = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 20), deadline: [14 * Day, 3 * Day]));
        late.Now = Start + 18 * Day;
        late.Apply(new TimerFired(Start + 6 * Day));
        var sent = Assert.Single(late.Sent, x => x.Template == EmailTemplates.Deadline);
        Assert.Equal("2 days", sent.Email.Model["timeLeft"]);
        Assert.Equal(Start + 20 * Day, late.NextWakeAt);
    }

    [Fact]
    public void a_deadline_reminder_that_would_fall_before_the_enrolment_is_not_sent()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 10), deadline: [14 * Day, 3 * Day]));
        s.RunUntil(Start + 9 * Day);
        Assert.Equal([Start + 7 * Day], s.SentAt(EmailTemplates.Deadline));
    }

    [Fact]
    public void after_the_deadline_overdue_reminders_repeat_up_to_max_repeats_then_the_lapsed_enrolment_closes()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 20), repeatEvery: 7 * Day, maxRepeats: 2));

        s.RunUntil(Start + 80 * Day);

        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        Assert.Equal([Start + 27 * Day, Start + 34 * Day], s.SentAt(EmailTemplates.Overdue));
        Assert.Null(s.NextWakeAt);
    }

    [Fact]
    public void an_extension_after_lapsing_stops_overdue_reminders_and_brings_back_deadline_reminders()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 20), repeatEvery: 7 * Day, maxRepeats: 5, deadline: [3 * Day]));
        s.RunUntil(Start + 28 * Day);
        s.Apply(new DeadlineExtended(Start + 40 * Day));

        s.RunUntil(Start + 39 * Day);

        Assert.Equal([Start + 27 * Day], s.SentAt(EmailTemplates.Overdue));
        Assert.Equal([Start + 17 * Day, Start + 37 * Day], s.SentAt(EmailTemplates.Deadline));
    }

    [Fact]
    public void min_gap_holds_a_reminder_back_and_transactional_emails_neither_wait_nor_count()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 30), notStarted: 10 * Day, deadline: [19 * Day],
            minGap: 3 * Day, sessionReminder: Day));
        s.After(TimeSpan.FromHours(1)).Apply(new LiveSessionBooked("york", Start + 11 * Day + TimeSpan.FromHours(12)));

        s.RunUntil(Start + 25 * Day);

        Assert.Equal([Start + 10 * Day + TimeSpan.FromHours(12)], s.SentAt(EmailTemplates.SessionReminder));
        Assert.Equal([Start + 10 * Day], s.SentAt(EmailTemplates.NotStarted));
        Assert.Equal([Start + 13 * Day], s.SentAt(EmailTemplates.Deadline)); // due on day 11, held to day 13
    }

    [Fact]
    public void several_reminders_due_together_send_only_the_most_urgent()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 30), notStarted: 10 * Day, deadline: [20 * Day]));
        s.RunUntil(Start + 25 * Day);
        Assert.Equal([Start + 10 * Day], s.SentAt(EmailTemplates.Deadline));
        Assert.Empty(s.SentAt(EmailTemplates.NotStarted));
    }

    [Fact]
    public void quiet_hours_and_weekdays_hold_a_friday_evening_reminder_until_monday_morning()
    {
        // Start is Monday 23 November 2026 09:00 UTC (GMT); due Friday 27 November 19:00.
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 60), notStarted: 4 * Day + TimeSpan.FromHours(10),
            quiet: LondonEvenings));
        s.RunUntil(Start + 30 * Day);
        Assert.Equal([new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero)], s.SentAt(EmailTemplates.NotStarted));
    }

    [Theory]
    // Weekend before the March change: Monday 08:00 is British Summer Time, 07:00 UTC.
    [InlineData("2026-03-28T20:00:00Z", true, "2026-03-30T07:00:00Z")]
    // Weekend before the October change: Monday 08:00 is back on GMT.
    [InlineData("2026-10-24T20:00:00Z", true, "2026-10-26T08:00:00Z")]
    // The night the clocks go forward: 00:30 UTC is 00:30 GMT, quiet until 08:00 BST.
    [InlineData("2026-03-29T00:30:00Z", false, "2026-03-29T07:00:00Z")]
    // The night the clocks go back: 00:30 UTC is 01:30 BST, quiet until 08:00 GMT.
    [InlineData("2026-10-25T00:30:00Z", false, "2026-10-25T08:00:00Z")]
    // An evening that crosses the change: quiet from 18:00 GMT Saturday to 08:00 BST Sunday.
    [InlineData("2026-03-28T18:30:00Z", false, "2026-03-29T07:00:00Z")]
    // In the open hours of a summer weekday: 17:59 BST is 16:59 UTC, sent at once.
    [InlineData("2026-06-10T16:59:00Z", true, "2026-06-10T16:59:00Z")]
    // 18:00 BST is quiet: 17:00 UTC waits for the next morning.
    [InlineData("2026-06-10T17:00:00Z", true, "2026-06-11T07:00:00Z")]
    public void quiet_hours_are_local_time_across_both_clock_changes(string due, bool weekdaysOnly, string expected)
    {
        var nudges = new NudgeSettings(null, null, null, 0, null, null, [], null, LondonEvenings with { WeekdaysOnly = weekdaysOnly }, []);
        Assert.Equal(DateTimeOffset.Parse(expected), DeliveryWindow.NextOpening(DateTimeOffset.Parse(due), nudges, transactional: false));
    }

    [Fact]
    public void the_decider_holds_reminders_over_the_2027_clock_change_weekends()
    {
        var march = new DateTimeOffset(2027, 3, 27, 20, 0, 0, TimeSpan.Zero); // Saturday before the change
        var october = new DateTimeOffset(2027, 10, 30, 20, 0, 0, TimeSpan.Zero); // Saturday before the change
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 500), notStarted: march - Start,
            repeatEvery: october - new DateTimeOffset(2027, 3, 29, 7, 0, 0, TimeSpan.Zero), maxRepeats: 1, quiet: LondonEvenings));

        s.RunUntil(Start + 450 * Day);

        Assert.Equal([new DateTimeOffset(2027, 3, 29, 7, 0, 0, TimeSpan.Zero), new DateTimeOffset(2027, 11, 1, 8, 0, 0, TimeSpan.Zero)],
            s.SentAt(EmailTemplates.NotStarted));
    }

    [Fact]
    public void paused_dates_hold_reminders_until_the_first_school_day_after_them()
    {
        var christmas = new NudgePause(new DateOnly(2026, 12, 21), new DateOnly(2027, 1, 1), "Christmas holidays");
        var due = new DateTimeOffset(2026, 12, 22, 10, 0, 0, TimeSpan.Zero);
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 90), notStarted: due - Start, sessionReminder: Day,
            quiet: LondonEvenings, pauses: [christmas]));
        s.Apply(new LiveSessionBooked("leeds", new DateTimeOffset(2026, 12, 23, 10, 0, 0, TimeSpan.Zero)));

        s.RunUntil(Start + 60 * Day);

        // Saturday 2 and Sunday 3 January follow the pause: Monday 4 January at 08:00.
        Assert.Equal([new DateTimeOffset(2027, 1, 4, 8, 0, 0, TimeSpan.Zero)], s.SentAt(EmailTemplates.NotStarted));
        // A session reminder is transactional: a holiday does not hold it back.
        Assert.Equal([new DateTimeOffset(2026, 12, 22, 10, 0, 0, TimeSpan.Zero)], s.SentAt(EmailTemplates.SessionReminder));
    }

    [Fact]
    public void a_session_reminder_that_quiet_hours_would_hold_past_the_session_goes_at_its_due_time()
    {
        // A 07:00 session: the reminder due at 19:00 the evening before would wait until 08:00, after the start.
        var session = new DateTimeOffset(2026, 11, 26, 7, 0, 0, TimeSpan.Zero);
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 60), sessionReminder: TimeSpan.FromHours(12),
            quiet: LondonEvenings));
        s.Apply(new LiveSessionBooked("dawn", session));

        s.RunUntil(Start + 10 * Day);

        Assert.Equal([session - TimeSpan.FromHours(12)], s.SentAt(EmailTemplates.SessionReminder));
    }

    private static ProgrammeDefinition Chatty() =>
        WithNudges(Programme(liveSessions: 1, windowDays: 40), notStarted: 2 * Day, stalled: 2 * Day, repeatEvery: 2 * Day, maxRepeats: 3,
            bookSession: Day, sessionReminder: Day, deadline: [10 * Day, 3 * Day]);

    [Fact]
    public void nothing_that_is_not_transactional_goes_to_someone_withdrawn_completed_or_unsubscribed()
    {
        var withdrawn = new DeciderScenario(Chatty());
        withdrawn.After(Day).Apply(new Withdrawn("left the school"));
        withdrawn.RunUntil(Start + 80 * Day);
        Assert.DoesNotContain(withdrawn.Sent, x => x.Template != EmailTemplates.Welcome);
        Assert.Null(withdrawn.NextWakeAt);

        var completed = new DeciderScenario(Chatty());
        completed.After(Day).CompleteModules("m1", "m2");
        completed.Apply(new SessionAttended("leeds", completed.Now));
        completed.RunUntil(Start + 80 * Day);
        Assert.Equal([EmailTemplates.Completion], completed.Sent.Select(x => x.Template));
        Assert.Null(completed.NextWakeAt);

        var unsubscribed = new DeciderScenario(Chatty());
        unsubscribed.After(Day).Apply(new PreferencesChanged(Reminders: false));
        unsubscribed.Apply(new LiveSessionBooked("leeds", Start + 5 * Day));
        unsubscribed.RunUntil(Start + 39 * Day);
        Assert.Equal([EmailTemplates.SessionReminder], unsubscribed.Sent.Select(x => x.Template));
    }

    [Fact]
    public void an_undeliverable_address_gets_nothing_until_the_school_gives_a_new_one()
    {
        var s = new DeciderScenario(Chatty());
        s.After(Day).Apply(new EmailBounced(Staff.Email, "bounce"));
        s.Apply(new LiveSessionBooked("leeds", Start + 5 * Day));
        s.RunUntil(Start + 8 * Day);
        Assert.Empty(s.Sent);

        s.Apply(new ContactDetailsChanged(Staff with { Email = "huong.new@example.org" }));
        s.RunUntil(Start + 12 * Day);
        Assert.Contains(s.Sent, x => x.Template == EmailTemplates.NotStarted && x.Email.To.Email == "huong.new@example.org");
    }

    [Fact]
    public void a_bounce_report_for_an_old_address_does_not_silence_the_new_one()
    {
        var s = new DeciderScenario(Chatty());
        s.Apply(new ContactDetailsChanged(Staff with { Email = "huong.new@example.org" }));
        s.Apply(new EmailBounced(Staff.Email, "bounce"));
        Assert.Null(s.State.EmailBouncedAt);
    }

    [Fact]
    public void next_nudge_at_is_when_the_next_reminder_will_go()
    {
        var s = new DeciderScenario(WithNudges(Programme(liveSessions: 0, windowDays: 60), notStarted: 4 * Day + TimeSpan.FromHours(10),
            quiet: LondonEvenings));
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero), NudgePolicy.NextAt(s.State, s.Definition, s.Now));
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero), s.NextWakeAt);
    }
}
