using System.Net;
using System.Net.Http.Json;
using System.Text;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Progress;

public sealed class ProgressEndpointTests
{
    [Fact]
    public async Task a_completion_reported_by_external_identity_reaches_the_enrolment()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-7");
        var lms = await app.ClientWithScopesAsync("lms");
        var response = await lms.PostAsJsonAsync("/api/v1/progress", new
        {
            programmeId = TestApp.Programme, schoolUrn = "100004", externalId = "T-7", moduleId = "identification",
            completedAt = app.Clock.GetUtcNow().AddHours(-3),
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var module = (await app.GetEnrolmentAsync(id)).GetProperty("modules").EnumerateArray()
            .Single(m => m.GetProperty("id").GetString() == "identification");
        Assert.Equal(app.Clock.GetUtcNow().AddHours(-3), module.GetProperty("completedAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task the_same_completion_reported_twice_is_stored_once()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var body = new { completedAt = app.Clock.GetUtcNow().AddMinutes(-30) };
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/modules/identification/completion", body)).StatusCode);
        }

        Assert.Equal(1, app.Count("enrolment_events", "type = 'module_completed'"));
    }

    [Fact]
    public async Task a_completion_time_in_the_future_is_refused_naming_completedAt()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/modules/identification/completion",
            new { completedAt = app.Clock.GetUtcNow().AddHours(2) });
        await Problem.AssertAsync(response, HttpStatusCode.UnprocessableEntity, "completedAt");
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
        Assert.Equal(0, app.Count("enrolment_events", "type = 'module_completed'"));
    }

    [Fact]
    public async Task an_unknown_module_is_refused_naming_moduleId()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        await Problem.AssertAsync(await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/astrophysics/completion", null),
            HttpStatusCode.UnprocessableEntity, "moduleId");
        var byIdentity = await app.Admin().PostAsJsonAsync("/api/v1/progress",
            new { programmeId = TestApp.Programme, schoolUrn = "100004", externalId = "T-1", moduleId = "astrophysics" });
        await Problem.AssertAsync(byIdentity, HttpStatusCode.UnprocessableEntity, "moduleId");
        Assert.Equal(0, app.Count("enrolment_events", "type = 'module_completed'"));
    }

    [Fact]
    public async Task progress_for_someone_not_enrolled_is_404_naming_externalId()
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsJsonAsync("/api/v1/progress",
            new { programmeId = TestApp.Programme, schoolUrn = "100004", externalId = "nobody", moduleId = "identification" });
        await Problem.AssertAsync(response, HttpStatusCode.NotFound, "externalId");
    }

    [Theory]
    [InlineData("{}", "programmeId")]
    [InlineData("{\"programmeId\":\"send-inclusion-core\",\"schoolUrn\":\"100004\",\"externalId\":\"T-1\"}", "moduleId")]
    [InlineData("{\"programmeId\":\"send-inclusion-core\",\"schoolUrn\":\"100004\",\"externalId\":\"T-1\",\"moduleId\":\"identification\",\"completedAt\":\"yesterday\"}", "completedAt")]
    [InlineData("{\"programmeId\":\"send-inclusion-core\",\"schoolUrn\":\"100004\",\"externalId\":\"T-1\",\"moduleId\":\"identification\",\"completedAt\":\"2026-11-20T10:00:00\"}", "completedAt")]
    [InlineData("{\"programmeId\":\"send-inclusion-core\",\"schoolUrn\":\"100004\",\"externalId\":true}", "externalId")]
    public async Task bad_progress_reports_name_the_field_and_store_nothing(string body, string field)
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsync("/api/v1/progress", new StringContent(body, Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(0, app.Count("enrolment_events", "type = 'module_completed'"));
    }
}
