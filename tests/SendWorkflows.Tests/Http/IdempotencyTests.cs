using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Http;

public sealed class IdempotencyTests
{
    private static HttpRequestMessage Post(string path, object body, string key) =>
        new(HttpMethod.Post, path) { Content = JsonContent.Create(body), Headers = { { "Idempotency-Key", key } } };

    [Fact]
    public async Task a_retry_with_the_same_key_and_body_gets_the_same_answer_and_does_nothing_twice()
    {
        await using var app = new TestApp();
        var admin = app.Admin();
        var first = await admin.SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), "enrol-T-1"));
        var retry = await admin.SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), "enrol-T-1"));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(1, app.Count("enrolments"));
        Assert.Equal(1, app.Count("enrolment_events"));
        Assert.Equal(1, app.Count("outbox"));
    }

    [Fact]
    public async Task the_same_key_with_a_different_body_is_refused_with_422()
    {
        await using var app = new TestApp();
        var admin = app.Admin();
        (await admin.SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), "k1"))).EnsureSuccessStatusCode();
        var other = await admin.SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-2"), "k1"));
        await Problem.AssertAsync(other, HttpStatusCode.UnprocessableEntity, "Idempotency-Key");
        Assert.Equal(1, app.Count("enrolments"));
    }

    [Fact]
    public async Task keys_belong_to_the_client_that_sent_them()
    {
        await using var app = new TestApp();
        var school = await app.ClientWithScopesAsync("school:100004");
        (await app.Admin().SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), "shared"))).EnsureSuccessStatusCode();
        var response = await school.SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-2"), "shared"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, app.Count("enrolments"));
    }

    [Fact]
    public async Task a_refused_request_is_replayed_as_refused_and_stores_nothing()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var future = new { completedAt = app.Clock.GetUtcNow().AddDays(1) };
        var first = await app.Admin().SendAsync(Post($"/api/v1/enrolments/{id}/modules/identification/completion", future, "c1"));
        var again = await app.Admin().SendAsync(Post($"/api/v1/enrolments/{id}/modules/identification/completion", future, "c1"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, first.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, again.StatusCode);
        Assert.Equal(0, app.Count("enrolment_events", "type = 'module_completed'"));
    }

    [Fact]
    public async Task a_new_api_key_is_never_stored_for_replay()
    {
        await using var app = new TestApp();
        var first = await app.Admin().SendAsync(Post("/api/v1/clients", new { name = "lms", scopes = new[] { "lms" } }, "client-1"));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var key = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;

        var retry = await app.Admin().SendAsync(Post("/api/v1/clients", new { name = "lms", scopes = new[] { "lms" } }, "client-1"));
        var body = await Problem.AssertAsync(retry, HttpStatusCode.Conflict, "Idempotency-Key");
        Assert.DoesNotContain(key, body.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, app.Count("idempotent_requests", $"{TestStore.Utf8Text("body")} LIKE '%{key}%'"));
        Assert.Equal(2, app.Count("api_clients"));
    }

    [Fact]
    public async Task an_over_long_key_is_refused()
    {
        await using var app = new TestApp();
        var response = await app.Admin().SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), new string('k', 300)));
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "Idempotency-Key");
        Assert.Equal(0, app.Count("enrolments"));
    }

    [Fact]
    public async Task keys_are_forgotten_after_a_day()
    {
        await using var app = new TestApp();
        (await app.Admin().SendAsync(Post("/api/v1/enrolments", TestApp.Person("T-1"), "old"))).EnsureSuccessStatusCode();
        app.Clock.Advance(TimeSpan.FromHours(25));
        await app.TickAsync();
        Assert.Equal(0, app.Count("idempotent_requests"));
    }
}
