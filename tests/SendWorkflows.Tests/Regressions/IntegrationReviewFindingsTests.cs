using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Webhooks;

namespace SendWorkflows.Tests.Regressions;

/// <summary>Defects a review of the school-integration work found; each test failed before its fix.</summary>
public sealed class IntegrationReviewFindingsTests
{
    private const string Base = "https://send.example.org";

    private static StringContent Statement(string enrolmentId, string sessionId, DateTimeOffset at) => new(new JsonObject
    {
        ["actor"] = new JsonObject { ["mbox"] = "mailto:learner@school.example.org" },
        ["verb"] = new JsonObject { ["id"] = "http://adlnet.gov/expapi/verbs/attended" },
        ["object"] = new JsonObject { ["id"] = $"{Base}/sessions/{sessionId}" },
        ["context"] = new JsonObject { ["registration"] = enrolmentId },
        ["timestamp"] = at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
    }.ToJsonString(), Encoding.UTF8, "application/json");

    private static async Task<HttpResponseMessage> PostStatementAsync(HttpClient client, StringContent body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements") { Content = body };
        request.Headers.Add("X-Experience-API-Version", "1.0.3");
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task xapi_statements_count_against_the_key_s_rate_limit()
    {
        await using var app = new TestApp(settings: new()
        {
            ["RateLimits:TokenLimit"] = "2", ["RateLimits:TokensPerPeriod"] = "1", ["RateLimits:ReplenishmentPeriod"] = "00:01:00",
        });
        var lms = await app.ClientWithScopesAsync("lms");
        var id = await app.EnrolAsync("T-1");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await PostStatementAsync(lms, Statement(id, "nowhere", app.Clock.GetUtcNow()))).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[2]);
    }

    [Fact]
    public async Task a_key_over_its_limit_asking_for_csv_gets_a_429_problem_not_a_500()
    {
        await using var app = new TestApp(settings: new()
        {
            ["RateLimits:TokenLimit"] = "1", ["RateLimits:TokensPerPeriod"] = "1", ["RateLimits:ReplenishmentPeriod"] = "00:01:00",
        });
        var school = await app.ClientWithScopesAsync("school:100004");
        school.DefaultRequestHeaders.Accept.ParseAdd("text/csv");
        (await school.GetAsync("/api/v1/schools/100004/report")).EnsureSuccessStatusCode();

        var refused = await school.GetAsync("/api/v1/schools/100004/report");

        await Problem.AssertAsync(refused, HttpStatusCode.TooManyRequests, "Authorization");
    }

    [Fact]
    public async Task xapi_attendance_dated_before_the_session_is_refused_and_a_late_report_counts_from_the_session_s_end()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync();
        var id = await app.EnrolAsync("T-1", programme: "small");
        await app.PutSessionAsync("leeds", "small", TimeSpan.FromHours(-3)); // ran from -3 h to -2 h

        var early = await PostStatementAsync(app.Admin(), Statement(id, "leeds", app.Clock.GetUtcNow().AddDays(-30)));
        await Problem.AssertAsync(early, HttpStatusCode.UnprocessableEntity, "timestamp");
        Assert.Equal(0, app.Count("xapi_statements"));

        (await PostStatementAsync(app.Admin(), Statement(id, "leeds", app.Clock.GetUtcNow()))).EnsureSuccessStatusCode();
        var session = (await app.GetEnrolmentAsync(id)).GetProperty("sessions").EnumerateArray().Single();
        Assert.Equal(app.Clock.GetUtcNow().AddHours(-2), session.GetProperty("attendedAt").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("64:ff9b::a9fe:a9fe")] // NAT64 of 169.254.169.254
    [InlineData("2002:a9fe:a9fe::1")] // 6to4 of 169.254.169.254
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2")] // Teredo
    [InlineData("::a9fe:a9fe")] // IPv4-compatible
    [InlineData("::ffff:10.0.0.1")] // IPv4-mapped private
    public void ipv6_forms_that_carry_an_ipv4_address_are_not_public(string address) =>
        Assert.False(WebhookNetwork.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void an_ordinary_global_ipv6_address_is_public() =>
        Assert.True(WebhookNetwork.IsPublic(IPAddress.Parse("2606:4700:4700::1111")));

    [Theory]
    [InlineData("%D9%A1%D9%A0%D9%A0%D9%A0%D9%A0%D9%A4")] // ١٠٠٠٠٤: digits, but not 0-9
    [InlineData("100004%0A")] // a trailing newline
    public async Task a_school_urn_is_six_or_eight_ascii_digits_and_nothing_after(string urn)
    {
        await using var app = new TestApp();
        var response = await app.Admin().GetAsync($"/api/v1/schools/{urn}/report");
        Assert.True((int)response.StatusCode is 400 or 404, $"got {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task a_school_details_body_with_a_repeated_key_is_a_problem_not_a_500()
    {
        await using var app = new TestApp();
        var response = await app.Admin().PutAsync("/api/v1/schools/100004",
            new StringContent("""{"localAuthority":"Leeds","localAuthority":"York"}""", Encoding.UTF8, "application/json"));
        Assert.InRange((int)response.StatusCode, 400, 499);
    }
}
