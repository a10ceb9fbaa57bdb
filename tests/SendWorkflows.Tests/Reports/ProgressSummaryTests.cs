using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Reports;

public sealed class ProgressSummaryTests
{
    private const string Leeds = "100004";
    private const string York = "100005";
    private const string Unmapped = "100006";
    private const string Summary = "/api/v1/reports/summary";

    private static async Task<JsonElement> SummaryAsync(TestApp app)
    {
        var response = await app.Admin().GetAsync(Summary);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement;
    }

    private static JsonElement Area(JsonElement summary, string name) =>
        summary.GetProperty("localAuthorities").EnumerateArray().Single(a => a.GetProperty("area").GetString() == name);

    private static async Task SetLocalAuthorityAsync(TestApp app, string urn, string? localAuthority) =>
        (await app.Admin().PutAsJsonAsync($"/api/v1/schools/{urn}", new { localAuthority })).EnsureSuccessStatusCode();

    private static async Task<string> EnrolQuickAsync(TestApp app, string externalId, string school)
    {
        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person(externalId, school, "quick"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static async Task CompleteAsync(TestApp app, string id)
    {
        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/m1/completion", null)).EnsureSuccessStatusCode();
        Assert.Equal("completed", await app.StatusOfAsync(id));
    }

    /// <summary>
    /// Leeds: three people, two completed after 1 and 3 days. York: one completed after 4 days, one
    /// withdrawn. A school with no local authority: one person on the default programme, who gets a
    /// not-started reminder a week later.
    /// </summary>
    private static async Task<TestApp> ArrangeAsync()
    {
        var app = new TestApp();
        var quick = TestApp.SmallProgramme("quick", liveSessions: 0);
        quick["modules"]!.AsArray().RemoveAt(1);
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/quick", quick)).EnsureSuccessStatusCode();
        await SetLocalAuthorityAsync(app, Leeds, "Leeds");
        await SetLocalAuthorityAsync(app, York, "York");

        var l1 = await EnrolQuickAsync(app, "L-1", Leeds);
        var l2 = await EnrolQuickAsync(app, "L-2", Leeds);
        await EnrolQuickAsync(app, "L-3", Leeds);
        var y1 = await EnrolQuickAsync(app, "Y-1", York);
        var y2 = await app.EnrolAsync("Y-2", York);
        (await app.Admin().PostAsync($"/api/v1/enrolments/{y2}/withdrawal", null)).EnsureSuccessStatusCode();
        var u1 = await app.EnrolAsync("U-1", Unmapped);

        app.Clock.Advance(TimeSpan.FromDays(1));
        await CompleteAsync(app, l1);
        app.Clock.Advance(TimeSpan.FromDays(2));
        await CompleteAsync(app, l2);
        app.Clock.Advance(TimeSpan.FromDays(1));
        await CompleteAsync(app, y1);
        app.Clock.Advance(TimeSpan.FromDays(3) + TimeSpan.FromHours(1));
        await app.TickAsync();
        Assert.Single(app.OutboxFilesFor(u1, "not-started"));
        return app;
    }

    [Fact]
    public async Task the_summary_counts_each_status_nationally_and_per_local_authority_with_unmapped_schools_under_unknown()
    {
        await using var app = await ArrangeAsync();
        var summary = await SummaryAsync(app);

        Assert.Equal(["Leeds", "York", "unknown"], summary.GetProperty("localAuthorities").EnumerateArray().Select(a => a.GetProperty("area").GetString()));
        var national = summary.GetProperty("national");
        Assert.Equal("England", national.GetProperty("area").GetString());
        Assert.Equal(6, national.GetProperty("enrolments").GetInt64());
        Assert.Equal(3, national.GetProperty("schools").GetInt64());
        AssertStatuses(national, enrolled: 2, completed: 3, withdrawn: 1);

        var leeds = Area(summary, "Leeds");
        Assert.Equal(3, leeds.GetProperty("enrolments").GetInt64());
        Assert.Equal(1, leeds.GetProperty("schools").GetInt64());
        AssertStatuses(leeds, enrolled: 1, completed: 2, withdrawn: 0);
        AssertStatuses(Area(summary, "York"), enrolled: 0, completed: 1, withdrawn: 1);
        AssertStatuses(Area(summary, "unknown"), enrolled: 1, completed: 0, withdrawn: 0);
        Assert.Equal(ManualClock.Monday9am.AddDays(7).AddHours(1), summary.GetProperty("generatedAt").GetDateTimeOffset());
    }

    private static void AssertStatuses(JsonElement area, int enrolled, int completed, int withdrawn)
    {
        var byStatus = area.GetProperty("byStatus");
        Assert.Equal(["enrolled", "in_progress", "awaiting_live_session", "completed", "lapsed", "withdrawn"],
            byStatus.EnumerateObject().Select(p => p.Name));
        Assert.Equal(enrolled, byStatus.GetProperty("enrolled").GetInt64());
        Assert.Equal(completed, byStatus.GetProperty("completed").GetInt64());
        Assert.Equal(withdrawn, byStatus.GetProperty("withdrawn").GetInt64());
        Assert.Equal(0, byStatus.GetProperty("in_progress").GetInt64());
        Assert.Equal(area.GetProperty("enrolments").GetInt64(), byStatus.EnumerateObject().Sum(p => p.Value.GetInt64()));
    }

    [Fact]
    public async Task completion_rate_leaves_out_withdrawals_and_the_median_days_to_complete_is_the_middle_value_or_the_mean_of_the_middle_two()
    {
        await using var app = await ArrangeAsync();
        var summary = await SummaryAsync(app);

        var national = summary.GetProperty("national");
        Assert.Equal(0.6, national.GetProperty("completionRate").GetDouble()); // 3 of the 5 not withdrawn
        Assert.Equal(3.0, national.GetProperty("medianDaysToComplete").GetDouble()); // 1, 3, 4
        var leeds = Area(summary, "Leeds");
        Assert.Equal(0.6667, leeds.GetProperty("completionRate").GetDouble());
        Assert.Equal(2.0, leeds.GetProperty("medianDaysToComplete").GetDouble()); // 1 and 3
        var york = Area(summary, "York");
        Assert.Equal(1.0, york.GetProperty("completionRate").GetDouble());
        Assert.Equal(4.0, york.GetProperty("medianDaysToComplete").GetDouble());
        var unknown = Area(summary, "unknown");
        Assert.Equal(0.0, unknown.GetProperty("completionRate").GetDouble());
        Assert.Equal(JsonValueKind.Null, unknown.GetProperty("medianDaysToComplete").ValueKind);
    }

    [Fact]
    public async Task nudges_sent_count_reminders_only_not_welcome_or_certificate_emails()
    {
        await using var app = await ArrangeAsync();
        Assert.True(app.Count("outbox", "status = 'sent' AND template IN ('welcome', 'certificate', 'completion')") >= 9);

        var summary = await SummaryAsync(app);
        Assert.Equal(1, summary.GetProperty("national").GetProperty("nudgesSent").GetInt64());
        Assert.Equal(1, Area(summary, "unknown").GetProperty("nudgesSent").GetInt64());
        Assert.Equal(0, Area(summary, "Leeds").GetProperty("nudgesSent").GetInt64());
    }

    [Fact]
    public async Task a_schools_counts_move_with_its_local_authority()
    {
        await using var app = await ArrangeAsync();
        await SetLocalAuthorityAsync(app, Unmapped, "Leeds");
        var summary = await SummaryAsync(app);
        Assert.Equal(["Leeds", "York"], summary.GetProperty("localAuthorities").EnumerateArray().Select(a => a.GetProperty("area").GetString()));
        Assert.Equal(4, Area(summary, "Leeds").GetProperty("enrolments").GetInt64());
        Assert.Equal(2, Area(summary, "Leeds").GetProperty("schools").GetInt64());
        Assert.Equal(1, Area(summary, "Leeds").GetProperty("nudgesSent").GetInt64());

        await SetLocalAuthorityAsync(app, Unmapped, null);
        Assert.Equal(1, Area(await SummaryAsync(app), "unknown").GetProperty("enrolments").GetInt64());
        Assert.Equal(2, app.Count("school_details"));
    }

    [Fact]
    public async Task with_nobody_enrolled_the_summary_is_all_zeros()
    {
        await using var app = new TestApp();
        var summary = await SummaryAsync(app);
        var national = summary.GetProperty("national");
        Assert.Equal(0, national.GetProperty("enrolments").GetInt64());
        Assert.Equal(JsonValueKind.Null, national.GetProperty("completionRate").ValueKind);
        Assert.Equal(JsonValueKind.Null, national.GetProperty("medianDaysToComplete").ValueKind);
        Assert.Equal(0, summary.GetProperty("localAuthorities").GetArrayLength());
    }

    [Fact]
    public async Task only_an_admin_may_read_the_summary()
    {
        await using var app = new TestApp();
        foreach (var scope in new[] { $"school:{Leeds}", "lms", "sessions" })
        {
            await Problem.AssertAsync(await (await app.ClientWithScopesAsync(scope)).GetAsync(Summary), HttpStatusCode.Forbidden, "Authorization");
        }
    }
}
