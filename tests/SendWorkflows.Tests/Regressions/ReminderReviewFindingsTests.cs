using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Email;
using SendWorkflows.Programmes;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;
using static SendWorkflows.Tests.Workflow.DeciderScenario;

namespace SendWorkflows.Tests.Regressions;

/// <summary>Defects a review of the reminders work found; each test failed before its fix.</summary>
public sealed class ReminderReviewFindingsTests
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    /// <summary>What HttpClient throws on its own timeout: a TaskCanceledException while nobody cancelled the pass.</summary>
    private sealed class TimingOutRelay : IEmailTransport
    {
        public int Calls;

        public Task SendAsync(EmailMessage message, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 30 seconds elapsing.", new TimeoutException());
        }
    }

    [Fact]
    public async Task a_transport_timeout_counts_as_a_failed_attempt_with_back_off_and_ends_dead()
    {
        var relay = new TimingOutRelay();
        await using var app = new TestApp(settings: new() { ["Outbox:MaxAttempts"] = "2" }, services: s => s.AddSingleton<IEmailTransport>(relay));
        await app.EnrolAsync("T-1");

        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());
        Assert.Equal(1, app.Count("outbox", "status = 'pending' AND attempts = 1 AND last_error LIKE '%Timeout%'"));
        app.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsDead").GetInt32());
        app.Clock.Advance(TimeSpan.FromHours(1));
        await app.TickAsync();
        Assert.Equal(2, relay.Calls);
    }

    [Fact]
    public async Task one_email_that_cannot_be_rendered_fails_alone_and_the_rest_of_the_pass_goes()
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-1");
        await app.EnrolAsync("T-2");
        // A row with a template this release does not ship (one written by a newer release, then rolled back).
        app.Execute(
            "UPDATE outbox SET payload = replace(payload, '\"template\":\"welcome\"', '\"template\":\"no-such\"') WHERE id = (SELECT MIN(id) FROM outbox)");

        var tick = await app.TickAsync();

        Assert.Equal(1, tick.GetProperty("effectsSent").GetInt32());
        Assert.Single(app.OutboxFiles("welcome"));
        Assert.Equal(1, app.Count("outbox", "status = 'pending' AND attempts = 1 AND last_error LIKE '%no-such%'"));
    }

    [Fact]
    public async Task a_programme_version_stored_under_earlier_rules_still_loads_and_enrols()
    {
        await using var app = new TestApp();
        _ = app.Admin();
        // Accepted before reminder offsets were checked against the window: a seconds-long demo with the usual nudges.
        const string doc = """{"id":"demo","title":"Demo","issuer":"Test","modules":[{"id":"m1","title":"M1","cpdMinutes":10,"required":true}],"liveSessionsRequired":0,"completionWindow":"PT60S","nudges":{"notStartedAfter":"P7D","deadlineReminders":["P14D","P3D"],"maxRepeats":3},"certificate":{"title":"C","linkValidity":"P30D"}}""";
        app.Execute($"INSERT INTO programmes (id, version, definition, created_at) VALUES ('demo', 1, '{doc}', 0)");

        Assert.Equal(HttpStatusCode.OK, (await app.Admin().GetAsync("/api/v1/programmes/demo")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-9", programme: "demo"))).StatusCode);
        // The same document is refused as a new version: the check applies to what is put now.
        var put = await app.Admin().PutAsync("/api/v1/programmes/demo", new StringContent(doc, System.Text.Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(put, HttpStatusCode.BadRequest, "nudges.notStartedAfter");
    }

    [Fact]
    public void a_past_booking_whose_register_never_came_stops_holding_back_book_a_session_a_week_after()
    {
        var s = new Workflow.DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 90), bookSession: 3 * Day, repeatEvery: 7 * Day, maxRepeats: 1));
        s.After(Day).CompleteModules("m1", "m2");
        s.Apply(new LiveSessionBooked("leeds", Start + 5 * Day));

        s.RunUntil(Start + 80 * Day);

        Assert.Equal([Start + 12 * Day, Start + 19 * Day], s.SentAt(EmailTemplates.BookSession));
    }

    [Fact]
    public void no_session_reminder_goes_to_a_lapsed_enrolment_and_a_lapsed_one_cannot_book()
    {
        var s = new Workflow.DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 20), repeatEvery: 7 * Day, maxRepeats: 0, sessionReminder: 2 * Day));
        s.After(Day).Apply(new LiveSessionBooked("leeds", Start + 25 * Day, "Leeds", "Hall"));
        s.RunUntil(Start + 30 * Day);
        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        Assert.Empty(s.SentAt(EmailTemplates.SessionReminder));

        var booking = s.Apply(new LiveSessionBooked("york", Start + 40 * Day, "York", "Hall"));
        Assert.True(booking.Rejected);
        Assert.Equal(RejectionKind.Conflict, booking.Rejection!.Kind);
    }

    [Fact]
    public void a_session_moved_there_and_back_gets_a_reminder_with_a_key_of_its_own_each_time()
    {
        var s = new Workflow.DeciderScenario(WithNudges(Programme(liveSessions: 1, windowDays: 60), sessionReminder: 2 * Day));
        var a = Start + 10 * Day;
        s.Apply(new LiveSessionBooked("leeds", a, "Leeds", "Hall"));
        s.RunUntil(a - 2 * Day + TimeSpan.FromHours(1));
        s.Apply(new LiveSessionBooked("leeds", a - Day, "Leeds", "Hall"));
        s.RunUntil(s.Now + TimeSpan.FromHours(1));
        s.Apply(new LiveSessionBooked("leeds", a, "Leeds", "Hall"));
        s.RunUntil(s.Now + TimeSpan.FromHours(1));

        var keys = s.Sent.Where(x => x.Template == EmailTemplates.SessionReminder).Select(x => x.Email.DedupeKey).ToList();
        Assert.Equal(3, keys.Count);
        Assert.Equal(3, keys.Distinct().Count());
    }

    [Fact]
    public async Task a_timer_that_falls_again_on_a_moment_already_fired_still_fires()
    {
        await using var app = new TestApp();
        var programme = TestApp.SmallProgramme(liveSessions: 0, window: "P60D");
        programme["nudges"] = new System.Text.Json.Nodes.JsonObject
        {
            ["notStartedAfter"] = "P5DT1H", ["stalledAfter"] = "P2D",
            ["quietHours"] = new System.Text.Json.Nodes.JsonObject { ["timeZone"] = "Europe/London", ["start"] = "18:00", ["end"] = "08:00", ["weekdaysOnly"] = true },
        };
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", programme)).EnsureSuccessStatusCode();
        var id = await app.EnrolAsync("T-1", programme: "small");
        var monday8 = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        app.Clock.Set(monday8);
        await app.TickAsync(); // not-started, held from Saturday to Monday 08:00

        // Later that morning the LMS reports a module done on Friday: stalled falls due at Monday 08:00 again.
        app.Clock.Set(monday8.AddHours(3));
        (await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/modules/m1/completion",
            new { completedAt = new DateTimeOffset(2026, 11, 27, 10, 0, 0, TimeSpan.Zero) })).EnsureSuccessStatusCode();
        await app.TickAsync();

        Assert.Single(app.OutboxFilesFor(id, "not-started"));
        Assert.Single(app.OutboxFilesFor(id, "stalled"));
    }

    [Fact]
    public async Task reminders_decided_before_an_opt_out_are_cancelled_but_a_session_reminder_still_goes_unless_the_person_left()
    {
        await using var app = new TestApp();
        var programme = TestApp.SmallProgramme(window: "P60D");
        programme["nudges"] = new System.Text.Json.Nodes.JsonObject { ["notStartedAfter"] = "P7D", ["sessionReminderBefore"] = "P1D" };
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", programme)).EnsureSuccessStatusCode();
        var optedOut = await app.EnrolAsync("T-1", programme: "small");
        var leaver = await app.EnrolAsync("T-2", programme: "small");
        await app.PutSessionAsync("leeds", "small", TimeSpan.FromDays(8));
        foreach (var id in new[] { optedOut, leaver })
        {
            (await app.Admin().PostAsJsonAsync("/api/v1/sessions/leeds/bookings", new { enrolmentId = id })).EnsureSuccessStatusCode();
        }

        await app.TickAsync();
        app.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromHours(1));
        await app.Service<EnrolmentWorkflow>().FireDueTimersAsync(100, CancellationToken.None); // decided, not yet sent
        Assert.Equal(2, app.Count("outbox", "template = 'not-started' AND status = 'pending'"));
        Assert.Equal(2, app.Count("outbox", "template = 'session-reminder' AND status = 'pending'"));

        var tokens = app.Service<SendWorkflows.Preferences.PreferenceTokens>();
        (await app.Anonymous().PostAsync("/preferences/" + tokens.Create(SendWorkflows.Preferences.PreferenceSubject.Enrolment, Guid.Parse(optedOut)),
            new FormUrlEncodedContent([new("reminders", "off")]))).EnsureSuccessStatusCode();
        (await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{leaver}/withdrawal", new { reason = "left" })).EnsureSuccessStatusCode();
        await app.TickAsync();

        Assert.Empty(app.OutboxFiles("not-started"));
        Assert.Single(app.OutboxFilesFor(optedOut, "session-reminder"));
        Assert.Empty(app.OutboxFilesFor(leaver, "session-reminder"));
        Assert.Equal(3, app.Count("outbox", "status = 'cancelled'"));
    }

    /// <summary>Found by the scale-out tests: a not-started reminder decided just before the first module was reported still went.</summary>
    [Fact]
    public async Task a_not_started_reminder_decided_before_the_person_started_is_cancelled_not_sent()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var other = await app.EnrolAsync("T-2");
        await app.TickAsync(); // the welcomes
        app.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromHours(1));
        await app.Service<EnrolmentWorkflow>().FireDueTimersAsync(100, CancellationToken.None); // decided, not yet sent
        Assert.Equal(2, app.Count("outbox", "template = 'not-started' AND status = 'pending'"));

        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null)).EnsureSuccessStatusCode();
        await app.TickAsync();

        Assert.Empty(app.OutboxFilesFor(id, "not-started"));
        Assert.Single(app.OutboxFilesFor(other, "not-started"));
        Assert.Equal(1, app.Count("outbox", "template = 'not-started' AND status = 'cancelled' AND last_error LIKE '%started%'"));
    }
}
