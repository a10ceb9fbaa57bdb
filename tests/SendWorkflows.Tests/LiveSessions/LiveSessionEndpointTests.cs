using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.LiveSessions;

public sealed class LiveSessionEndpointTests
{
    [Fact]
    public async Task a_full_session_refuses_the_next_booking_and_a_cancellation_frees_the_place()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("small-room", TestApp.Programme, TimeSpan.FromDays(3), capacity: 2);
        var people = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            people.Add(await app.EnrolAsync($"T-{i}"));
        }

        Assert.Equal(HttpStatusCode.Created, (await Book(app, "small-room", people[0])).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Book(app, "small-room", people[0])).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Book(app, "small-room", people[1])).StatusCode);
        await Problem.AssertAsync(await Book(app, "small-room", people[2]), HttpStatusCode.Conflict, "sessionId");
        Assert.Equal(2, app.Count("session_bookings", "status = 'booked'"));

        var cancel = await app.Admin().DeleteAsync($"/api/v1/sessions/small-room/bookings/{people[0]}");
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Book(app, "small-room", people[2])).StatusCode);

        var session = await app.Admin().GetFromJsonAsync<JsonElement>("/api/v1/sessions/small-room");
        Assert.Equal(0, session.GetProperty("placesLeft").GetInt32());
    }

    [Fact]
    public async Task moving_a_session_moves_the_reminders_of_everyone_booked_on_it_and_names_the_session()
    {
        await using var app = new TestApp();
        var programme = TestApp.SmallProgramme();
        programme["nudges"] = new System.Text.Json.Nodes.JsonObject { ["sessionReminderBefore"] = "P2D" };
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", programme)).EnsureSuccessStatusCode();
        var id = await app.EnrolAsync("T-1", programme: "small");
        await app.PutSessionAsync("leeds", "small", TimeSpan.FromDays(10));
        (await app.Admin().PostAsJsonAsync("/api/v1/sessions/leeds/bookings", new { enrolmentId = id })).EnsureSuccessStatusCode();
        Assert.Equal(app.Clock.GetUtcNow().AddDays(8), (await app.GetEnrolmentAsync(id)).GetProperty("nextNudgeAt").GetDateTimeOffset());

        var starts = app.Clock.GetUtcNow().AddDays(20);
        (await app.Admin().PutAsJsonAsync("/api/v1/sessions/leeds", new
        {
            programmeId = "small", title = "Live session (moved)", startsAt = starts, endsAt = starts.AddHours(1), location = "York", capacity = 10,
        })).EnsureSuccessStatusCode();

        Assert.Equal(starts.AddDays(-2), (await app.GetEnrolmentAsync(id)).GetProperty("nextNudgeAt").GetDateTimeOffset());
        app.Clock.Advance(TimeSpan.FromDays(18));
        await app.TickAsync();
        var reminder = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "session-reminder")));
        var text = Eml.Part(reminder, "text/plain");
        Assert.Contains("Live session (moved)", text, StringComparison.Ordinal);
        Assert.Contains("York", text, StringComparison.Ordinal);
        Assert.Contains("Sunday 13 December 2026 at 9am", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\r\nList-Unsubscribe:", reminder, StringComparison.Ordinal); // transactional
    }

    [Fact]
    public async Task bookings_close_when_the_session_starts()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("soon", TestApp.Programme, TimeSpan.FromHours(1));
        var id = await app.EnrolAsync("T-1");
        app.Clock.Advance(TimeSpan.FromHours(1));
        await Problem.AssertAsync(await Book(app, "soon", id), HttpStatusCode.Conflict, "sessionId");
    }

    [Fact]
    public async Task a_booking_for_a_session_of_another_programme_names_enrolmentId()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync();
        await app.PutSessionAsync("small-only", "small", TimeSpan.FromDays(1));
        var id = await app.EnrolAsync("T-1");
        await Problem.AssertAsync(await Book(app, "small-only", id), HttpStatusCode.UnprocessableEntity, "enrolmentId");
        await Problem.AssertAsync(await Book(app, "no-such-session", id), HttpStatusCode.NotFound, "sessionId");
        Assert.Equal(0, app.Count("session_bookings"));
    }

    [Fact]
    public async Task a_register_with_one_unknown_person_is_refused_whole()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("past", TestApp.Programme, TimeSpan.FromHours(-3));
        var known = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync("/api/v1/sessions/past/attendance", new
        {
            attendees = new object[] { new { enrolmentId = known, attended = true }, new { enrolmentId = Guid.NewGuid(), attended = true } },
        });
        await Problem.AssertAsync(response, HttpStatusCode.UnprocessableEntity, "attendees[1].enrolmentId");
        Assert.Equal(0, app.Count("enrolment_events", "type = 'session_attended'"));
    }

    [Fact]
    public async Task a_register_naming_a_withdrawn_person_is_refused_whole()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("past", TestApp.Programme, TimeSpan.FromHours(-3));
        var present = await app.EnrolAsync("T-1");
        var withdrawn = await app.EnrolAsync("T-2");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{withdrawn}/withdrawal", null)).EnsureSuccessStatusCode();
        var response = await app.Admin().PostAsJsonAsync("/api/v1/sessions/past/attendance", new
        {
            attendees = new object[] { new { enrolmentId = present, attended = true }, new { enrolmentId = withdrawn, attended = false } },
        });
        await Problem.AssertAsync(response, HttpStatusCode.Conflict, "attendees[1].enrolmentId");
        Assert.Equal(0, app.Count("enrolment_events", "type IN ('session_attended', 'session_missed')"));
    }

    [Fact]
    public async Task attendance_cannot_be_recorded_before_the_session_starts()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("future", TestApp.Programme, TimeSpan.FromDays(1));
        var id = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync("/api/v1/sessions/future/attendance",
            new { attendees = new[] { new { enrolmentId = id, attended = true } } });
        await Problem.AssertAsync(response, HttpStatusCode.Conflict, "sessionId");
    }

    [Fact]
    public async Task a_no_show_is_recorded_as_missed()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("past", TestApp.Programme, TimeSpan.FromHours(-3));
        var id = await app.EnrolAsync("T-1");
        (await app.Admin().PostAsJsonAsync("/api/v1/sessions/past/attendance",
            new { attendees = new[] { new { enrolmentId = id, attended = false } } })).EnsureSuccessStatusCode();
        var session = (await app.GetEnrolmentAsync(id)).GetProperty("sessions")[0];
        Assert.Equal("missed", session.GetProperty("status").GetString());
    }

    public static TheoryData<object, string> BadSessions => new()
    {
        { new { title = "t", startsAt = "2026-12-01T10:00:00Z", endsAt = "2026-12-01T12:00:00Z", location = "x", capacity = 5 }, "programmeId" },
        { new { programmeId = "send-inclusion-core", title = "t", startsAt = "2026-12-01T10:00:00Z", endsAt = "2026-12-01T09:00:00Z", location = "x", capacity = 5 }, "endsAt" },
        { new { programmeId = "send-inclusion-core", title = "t", startsAt = "2026-12-01T10:00:00Z", endsAt = "2026-12-01T12:00:00Z", location = "x", capacity = 0 }, "capacity" },
        { new { programmeId = "send-inclusion-core", title = "t", startsAt = "2026-12-01T10:00:00Z", endsAt = "2026-12-01T12:00:00Z", location = "x", capacity = "ten" }, "capacity" },
        { new { programmeId = "send-inclusion-core", startsAt = "2026-12-01T10:00:00Z", endsAt = "2026-12-01T12:00:00Z", location = "x", capacity = 5 }, "title" },
    };

    [Theory]
    [MemberData(nameof(BadSessions))]
    public async Task a_bad_session_definition_names_the_field_and_stores_nothing(object body, string field)
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().PutAsJsonAsync("/api/v1/sessions/s1", body), HttpStatusCode.BadRequest, field);
        Assert.Equal(0, app.Count("live_sessions"));
    }

    [Fact]
    public async Task capacity_cannot_drop_below_the_people_already_booked()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("s1", TestApp.Programme, TimeSpan.FromDays(2), capacity: 5);
        (await Book(app, "s1", await app.EnrolAsync("T-1"))).EnsureSuccessStatusCode();
        (await Book(app, "s1", await app.EnrolAsync("T-2"))).EnsureSuccessStatusCode();
        var starts = app.Clock.GetUtcNow().AddDays(2);
        var shrink = await app.Admin().PutAsJsonAsync("/api/v1/sessions/s1",
            new { programmeId = TestApp.Programme, title = "Live session", startsAt = starts, endsAt = starts.AddHours(1), location = "Leeds", capacity = 1 });
        await Problem.AssertAsync(shrink, HttpStatusCode.Conflict, "capacity");
        Assert.Equal(5, app.Scalar("SELECT capacity FROM live_sessions WHERE id = 's1'"));
    }

    private static Task<HttpResponseMessage> Book(TestApp app, string session, string enrolmentId) =>
        app.Admin().PostAsJsonAsync($"/api/v1/sessions/{session}/bookings", new { enrolmentId });
}
