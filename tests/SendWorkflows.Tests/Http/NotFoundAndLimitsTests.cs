using System.Net;
using System.Net.Http.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Http;

/// <summary>Bad input on the routes the other suites touch only on their happy path.</summary>
public sealed class NotFoundAndLimitsTests
{
    [Fact]
    public async Task revoking_a_client_that_does_not_exist_or_is_already_revoked_is_404_naming_id()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"/api/v1/clients/{Guid.NewGuid()}"), HttpStatusCode.NotFound, "id");
        await Problem.AssertAsync(await app.Admin().DeleteAsync("/api/v1/clients/not-a-guid"), HttpStatusCode.NotFound, "id");
        var (id, _) = await app.CreateApiClientAsync("lms");
        Assert.Equal(HttpStatusCode.NoContent, (await app.Admin().DeleteAsync($"/api/v1/clients/{id}")).StatusCode);
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"/api/v1/clients/{id}"), HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task an_unknown_session_is_404_naming_sessionId()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/sessions/nowhere"), HttpStatusCode.NotFound, "sessionId");
        var id = await app.EnrolAsync("T-1");
        await Problem.AssertAsync(await app.Admin().PostAsJsonAsync("/api/v1/sessions/nowhere/attendance",
            new { attendees = new[] { new { enrolmentId = id, attended = true } } }), HttpStatusCode.NotFound, "sessionId");
    }

    [Fact]
    public async Task cancelling_a_booking_that_does_not_exist_is_404_and_changes_nothing()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("s1", TestApp.Programme, TimeSpan.FromDays(2));
        var id = await app.EnrolAsync("T-1");
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"/api/v1/sessions/s1/bookings/{id}"), HttpStatusCode.NotFound, "enrolmentId");
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"/api/v1/sessions/nowhere/bookings/{id}"), HttpStatusCode.NotFound, "sessionId");
        Assert.Equal(0, app.Count("enrolment_events", "type = 'booking_cancelled'"));
    }

    [Fact]
    public async Task an_over_long_withdrawal_reason_is_refused_and_the_person_stays_enrolled()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/withdrawal", new { reason = new string('x', 501) });
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "reason");
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task a_register_with_a_malformed_attendee_names_the_attendee()
    {
        await using var app = new TestApp();
        await app.PutSessionAsync("past", TestApp.Programme, TimeSpan.FromHours(-2));
        var id = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync("/api/v1/sessions/past/attendance",
            new { attendees = new object[] { new { enrolmentId = id, attended = true }, new { enrolmentId = id } } });
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "attendees[1].attended");
        var duplicate = await app.Admin().PostAsJsonAsync("/api/v1/sessions/past/attendance",
            new { attendees = new object[] { new { enrolmentId = id, attended = true }, new { enrolmentId = id, attended = false } } });
        await Problem.AssertAsync(duplicate, HttpStatusCode.BadRequest, "attendees[1].enrolmentId");
        Assert.Equal(0, app.Count("enrolment_events", "type IN ('session_attended', 'session_missed')"));
    }
}
