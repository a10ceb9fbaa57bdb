using System.Net;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// An LMS reporting all of one person's modules at the same moment. On PostgreSQL the requests that
/// lost the optimistic race three times fell back to a transaction that read the enrolment without
/// locking it, lost again, and answered 500.
/// </summary>
public sealed class ConcurrentEventsForOnePersonTests
{
    private static readonly string[] Modules =
    [
        "inclusion-send-code", "identification", "adaptive-teaching", "speech-language-communication",
        "visual-impairment", "assistive-technology", "parents-and-carers",
    ];

    [Fact]
    public async Task every_module_reported_at_once_is_recorded_and_none_is_refused()
    {
        await using var app = new TestApp();
        var people = new[] { await app.EnrolAsync("T-1"), await app.EnrolAsync("T-2") };
        var admin = app.Admin();

        var responses = await Task.WhenAll(people.SelectMany(id => Modules.Select(module =>
            admin.PostAsync($"/api/v1/enrolments/{id}/modules/{module}/completion", null))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        foreach (var id in people)
        {
            var modules = (await app.GetEnrolmentAsync(id)).GetProperty("modules").EnumerateArray().ToList();
            Assert.All(modules, m => Assert.NotEqual(System.Text.Json.JsonValueKind.Null, m.GetProperty("completedAt").ValueKind));
            Assert.Equal(Modules.Length, app.Count("enrolment_events", $"enrolment_id = '{id}' AND type = 'module_completed'"));
        }
    }
}
