using System.Net;
using System.Net.Http.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

/// <summary>A request that died between reserving its Idempotency-Key and storing its answer blocked that key for a day.</summary>
public sealed class AbandonedIdempotencyKeyTests
{
    private static HttpRequestMessage Enrol(string externalId, string key) =>
        new(HttpMethod.Post, "/api/v1/enrolments") { Content = JsonContent.Create(TestApp.Person(externalId)), Headers = { { "Idempotency-Key", key } } };

    private static async Task<string> AdminClientIdAsync(TestApp app)
    {
        await app.Admin().GetAsync($"/api/v1/programmes/{TestApp.Programme}");
        return app.Text("SELECT id FROM api_clients WHERE scopes = 'admin'")!;
    }

    [Fact]
    public async Task a_reservation_left_by_a_dead_request_is_taken_over_after_five_minutes()
    {
        await using var app = new TestApp();
        var clientId = await AdminClientIdAsync(app);
        var died = app.Clock.GetUtcNow().AddMinutes(-6).ToUnixTimeMilliseconds();
        app.Execute(
            $"INSERT INTO idempotent_requests (client_id, key, request_hash, created_at) VALUES ('{clientId}', 'k', 'whatever', {died})");

        var response = await app.Admin().SendAsync(Enrol("T-1", "k"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await app.Admin().SendAsync(Enrol("T-1", "k"))).StatusCode);
        Assert.Equal(1, app.Count("enrolments"));
    }

    [Fact]
    public async Task a_recent_reservation_still_in_progress_answers_409_and_a_different_body_422()
    {
        await using var app = new TestApp();
        var clientId = await AdminClientIdAsync(app);
        var now = app.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        app.Execute(
            $"INSERT INTO idempotent_requests (client_id, key, request_hash, created_at) VALUES ('{clientId}', 'k', 'other-body', {now})");

        await Problem.AssertAsync(await app.Admin().SendAsync(Enrol("T-1", "k")), HttpStatusCode.UnprocessableEntity, "Idempotency-Key");
        Assert.Equal(0, app.Count("enrolments"));
    }
}
