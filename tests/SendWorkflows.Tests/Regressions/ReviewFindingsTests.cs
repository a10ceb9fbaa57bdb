using System.Net;
using System.Net.Http.Json;
using System.Text;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Tests.Workflow;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Regressions;

public sealed class ReviewFindingsTests
{
    [Fact]
    public async Task an_empty_body_sent_with_a_json_content_type_counts_as_no_body_on_optional_routes()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var empty = new StringContent("", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.OK, (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", empty)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/withdrawal", empty)).StatusCode);
        var notJson = new StringContent("reason=left", Encoding.UTF8, "text/plain");
        await Problem.AssertAsync(await app.Admin().PostAsync($"/api/v1/enrolments/{id}/withdrawal", notJson),
            HttpStatusCode.UnsupportedMediaType, "Content-Type");
    }

    [Fact]
    public async Task a_completion_window_too_long_to_compute_a_deadline_is_refused_up_front()
    {
        await using var app = new TestApp();
        var doc = TestApp.SmallProgramme("endless", window: "P3000000D");
        await Problem.AssertAsync(await app.Admin().PutAsJsonAsync("/api/v1/programmes/endless", doc), HttpStatusCode.BadRequest, "completionWindow");
    }

    [Fact]
    public async Task a_deadline_extension_beyond_ten_years_is_refused()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var response = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension",
            new { deadline = app.Clock.GetUtcNow().AddYears(11) });
        await Problem.AssertAsync(response, HttpStatusCode.UnprocessableEntity, "deadline");
    }

    [Fact]
    public void requirements_met_after_the_deadline_do_not_complete_even_before_the_sweep_has_run()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        s.CompleteModules("m1");
        s.Now = s.State.Deadline.AddMinutes(1);
        s.CompleteModules("m2");
        Assert.Equal(EnrolmentStatus.InProgress, s.State.Status);
        Assert.Equal(0, s.EmailsOf(EmailTemplates.Completion));

        s.Apply(new TimerFired(s.State.Deadline));
        Assert.Equal(EnrolmentStatus.Lapsed, s.State.Status);
        s.Apply(new DeadlineExtended(s.Now.AddDays(7)));
        Assert.Equal(EnrolmentStatus.Completed, s.State.Status);
    }

    [Fact]
    public void an_earlier_attendance_reported_later_is_a_different_event_not_a_duplicate()
    {
        var later = new SessionAttended("leeds", DeciderScenario.Start.AddHours(5));
        var earlier = new SessionAttended("leeds", DeciderScenario.Start.AddHours(2));
        Assert.NotEqual(EventKeys.For(later), EventKeys.For(earlier));
        Assert.Equal(EventKeys.For(earlier), EventKeys.For(earlier with { }));
    }
}
