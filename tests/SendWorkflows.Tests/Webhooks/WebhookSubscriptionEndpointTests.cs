using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Webhooks;

public sealed class WebhookSubscriptionEndpointTests
{
    private const string Hooks = "/api/v1/webhooks";
    private const string Url = "https://mis.school100004.example.org/sendworkflows/hooks";

    private static async Task<List<JsonElement>> ListAsync(HttpClient client)
    {
        var response = await client.GetAsync(Hooks);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("webhooks").EnumerateArray().ToList();
    }

    [Fact]
    public async Task a_subscription_is_created_with_a_secret_shown_once_listed_without_it_and_deleted()
    {
        await using var app = new TestApp();
        var school = await app.ClientWithScopesAsync("school:100004");

        var response = await school.PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "certificate.issued", "enrolment.completed", "certificate.issued" } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;
        Assert.EndsWith($"{Hooks}/{id}", response.Headers.Location!.ToString(), StringComparison.Ordinal);
        Assert.Equal(Url, created.GetProperty("url").GetString());
        Assert.Equal(["certificate.issued", "enrolment.completed"], created.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(ManualClock.Monday9am, created.GetProperty("createdAt").GetDateTimeOffset());

        // Standard Webhooks: whsec_ and the base64 of 24 to 64 random bytes, different every time.
        var secret = created.GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.InRange(Convert.FromBase64String(secret["whsec_".Length..]).Length, 24, 64);
        var another = await (await school.PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.lapsed" } })).Content.ReadFromJsonAsync<JsonElement>();
        Assert.NotEqual(secret, another.GetProperty("secret").GetString());

        var listed = await ListAsync(school);
        Assert.Equal(2, listed.Count);
        Assert.Equal(id, listed[0].GetProperty("id").GetString());
        Assert.False(listed[0].TryGetProperty("secret", out _));
        Assert.DoesNotContain(secret, (await school.GetStringAsync(Hooks)), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await school.DeleteAsync($"{Hooks}/{id}")).StatusCode);
        Assert.Single(await ListAsync(school));
        await Problem.AssertAsync(await school.DeleteAsync($"{Hooks}/{id}"), HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task another_clients_subscriptions_are_invisible_and_answer_404()
    {
        await using var app = new TestApp();
        var mine = await app.ClientWithScopesAsync("school:100004");
        var theirs = await app.ClientWithScopesAsync("school:100004");
        var created = await (await mine.PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.completed" } })).Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;

        Assert.Empty(await ListAsync(theirs));
        Assert.Empty(await ListAsync(app.Admin()));
        foreach (var other in new[] { theirs, app.Admin() })
        {
            await Problem.AssertAsync(await other.DeleteAsync($"{Hooks}/{id}"), HttpStatusCode.NotFound, "id");
            await Problem.AssertAsync(await other.GetAsync($"{Hooks}/{id}/deliveries"), HttpStatusCode.NotFound, "id");
        }

        Assert.Single(await ListAsync(mine));
        Assert.Equal(1, app.Count("webhook_subscriptions"));
    }

    [Theory]
    [InlineData("lms")]
    [InlineData("sessions")]
    public async Task keys_that_cannot_read_enrolments_cannot_subscribe(string scope)
    {
        await using var app = new TestApp();
        var client = await app.ClientWithScopesAsync(scope);
        await Problem.AssertAsync(await client.PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.completed" } }),
            HttpStatusCode.Forbidden, "Authorization");
        await Problem.AssertAsync(await client.GetAsync(Hooks), HttpStatusCode.Forbidden, "Authorization");
        Assert.Equal(0, app.Count("webhook_subscriptions"));
    }

    public static TheoryData<string, string, int, string> BadSubscriptions => new()
    {
        { "{\"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { "{\"url\": \"   \", \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { "{\"url\": \"/relative/hooks\", \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { "{\"url\": \"ftp://files.example.org/hooks\", \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { "{\"url\": \"https://user:password@hooks.example.org/\", \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { "{\"url\": \"https://hooks.example.org/#part\", \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { $"{{\"url\": \"https://hooks.example.org/{new string('a', 2000)}\", \"events\": [\"enrolment.completed\"]}}", "application/json", 400, "url" },
        { "{\"url\": 42, \"events\": [\"enrolment.completed\"]}", "application/json", 400, "url" },
        { $"{{\"url\": \"{Url}\"}}", "application/json", 400, "events" },
        { $"{{\"url\": \"{Url}\", \"events\": []}}", "application/json", 400, "events" },
        { $"{{\"url\": \"{Url}\", \"events\": [\"enrolment.completed\", \"enrolment.started\"]}}", "application/json", 400, "events[1]" },
        { $"{{\"url\": \"{Url}\", \"events\": [null]}}", "application/json", 400, "events[0]" },
        { $"{{\"url\": \"{Url}\", \"events\": \"enrolment.completed\"}}", "application/json", 400, "events" },
        { $"{{\"url\": \"{Url}\", \"events\": [\"enrolment.completed\"], \"secret\": \"whsec_mine\"}}", "application/json", 400, "secret" },
        { "{\"url\": ", "application/json", 400, "body" },
        { $"url={Url}", "application/x-www-form-urlencoded", 415, "Content-Type" },
    };

    [Theory]
    [MemberData(nameof(BadSubscriptions))]
    public async Task bad_input_is_a_problem_naming_the_field_and_stores_nothing(string body, string contentType, int status, string field)
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsync(Hooks, new StringContent(body, Encoding.UTF8, contentType));
        await Problem.AssertAsync(response, (HttpStatusCode)status, field);
        Assert.Equal(0, app.Count("webhook_subscriptions"));
    }

    [Theory]
    [InlineData("http://hooks.example.org/")]
    [InlineData("https://127.0.0.1/hooks")]
    [InlineData("https://localhost:8443/hooks")]
    [InlineData("https://10.1.2.3/hooks")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://[::1]/hooks")]
    [InlineData("https://[fd00::1]/hooks")]
    public async Task outside_development_only_https_to_a_public_address_is_accepted(string url)
    {
        await using var app = new TestApp(settings: new() { ["Webhooks:AllowHttp"] = "false", ["Webhooks:AllowPrivateNetworks"] = "false" });
        await Problem.AssertAsync(await app.Admin().PostAsJsonAsync(Hooks, new { url, events = new[] { "enrolment.completed" } }),
            HttpStatusCode.BadRequest, "url");
        Assert.Equal(HttpStatusCode.Created,
            (await app.Admin().PostAsJsonAsync(Hooks, new { url = "https://203.0.114.7/hooks", events = new[] { "enrolment.completed" } })).StatusCode);
    }

    [Fact]
    public async Task in_development_an_http_receiver_on_loopback_is_accepted()
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsJsonAsync(Hooks, new { url = "http://127.0.0.1:8080/hooks", events = new[] { "enrolment.completed" } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task a_client_has_at_most_ten_subscriptions()
    {
        await using var app = new TestApp();
        var school = await app.ClientWithScopesAsync("school:100004");
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.Created,
                (await school.PostAsJsonAsync(Hooks, new { url = $"{Url}/{i}", events = new[] { "enrolment.completed" } })).StatusCode);
        }

        await Problem.AssertAsync(await school.PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.completed" } }),
            HttpStatusCode.UnprocessableEntity, "url");
        // The limit is each client's own.
        Assert.Equal(HttpStatusCode.Created,
            (await app.Admin().PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.completed" } })).StatusCode);
        Assert.Equal(11, app.Count("webhook_subscriptions"));
    }

    [Fact]
    public async Task a_repeated_request_with_the_same_idempotency_key_never_shows_the_secret_again()
    {
        await using var app = new TestApp();
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, Hooks)
            {
                Content = JsonContent.Create(new { url = Url, events = new[] { "enrolment.completed" } }),
            };
            request.Headers.Add("Idempotency-Key", "subscribe-1");
            return request;
        }

        var first = await app.Admin().SendAsync(Request());
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var secret = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;

        var replay = await app.Admin().SendAsync(Request());
        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
        Assert.DoesNotContain(secret, await replay.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, app.Count("webhook_subscriptions"));
    }

    [Fact]
    public async Task the_delivery_log_checks_its_limit()
    {
        await using var app = new TestApp();
        var created = await (await app.Admin().PostAsJsonAsync(Hooks, new { url = Url, events = new[] { "enrolment.completed" } })).Content.ReadFromJsonAsync<JsonElement>();
        var id = created.GetProperty("id").GetString()!;
        await Problem.AssertAsync(await app.Admin().GetAsync($"{Hooks}/{id}/deliveries?limit=0"), HttpStatusCode.BadRequest, "limit");
        await Problem.AssertAsync(await app.Admin().GetAsync($"{Hooks}/not-an-id/deliveries"), HttpStatusCode.NotFound, "id");
        var empty = await app.Admin().GetFromJsonAsync<JsonElement>($"{Hooks}/{id}/deliveries?limit=5");
        Assert.Empty(empty.GetProperty("deliveries").EnumerateArray());
    }
}
