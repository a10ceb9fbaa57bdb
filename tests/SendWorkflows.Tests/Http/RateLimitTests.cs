using System.Net;
using System.Net.Http.Json;
using SendWorkflows.Http;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Http;

public sealed class RateLimitTests
{
    /// <summary>Three requests at once, then one more every ten seconds, for every key.</summary>
    private static TestApp SmallBuckets() => new(settings: new()
    {
        ["RateLimits:TokenLimit"] = "3",
        ["RateLimits:TokensPerPeriod"] = "1",
        ["RateLimits:ReplenishmentPeriod"] = "00:00:10",
    });

    private const string Programme = $"/api/v1/programmes/{TestApp.Programme}";

    [Fact]
    public async Task a_key_over_its_limit_gets_a_429_problem_with_retry_after_until_the_clock_gives_it_a_token_back()
    {
        await using var app = SmallBuckets();
        var lms = await app.ClientWithScopesAsync("lms");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await lms.GetAsync(Programme)).StatusCode);
        }

        var refused = await lms.GetAsync(Programme);
        var problem = await Problem.AssertAsync(refused, HttpStatusCode.TooManyRequests, "Authorization");
        Assert.Equal(TimeSpan.FromSeconds(10), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("10 s", problem.GetProperty("errors").GetProperty("Authorization")[0].GetString(), StringComparison.Ordinal);

        app.Clock.Advance(TimeSpan.FromSeconds(4));
        var stillRefused = await lms.GetAsync(Programme);
        Assert.Equal(HttpStatusCode.TooManyRequests, stillRefused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(6), stillRefused.Headers.RetryAfter?.Delta);

        app.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(HttpStatusCode.OK, (await lms.GetAsync(Programme)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await lms.GetAsync(Programme)).StatusCode);

        // A long quiet spell refills the bucket, never beyond its limit.
        app.Clock.Advance(TimeSpan.FromHours(1));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await lms.GetAsync(Programme)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await lms.GetAsync(Programme)).StatusCode);
    }

    [Fact]
    public async Task each_key_has_its_own_bucket()
    {
        await using var app = SmallBuckets();
        var schoolA = await app.ClientWithScopesAsync("school:100004");
        var schoolB = await app.ClientWithScopesAsync("school:100005");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await schoolA.GetAsync(Programme)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await schoolA.GetAsync(Programme)).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await schoolB.GetAsync(Programme)).StatusCode);
        }

        // The admin key made two requests (creating the two clients) and has one left.
        Assert.Equal(HttpStatusCode.OK, (await app.Admin().GetAsync(Programme)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await app.Admin().GetAsync(Programme)).StatusCode);
    }

    [Fact]
    public async Task a_refused_request_changes_nothing()
    {
        await using var app = SmallBuckets();
        var school = await app.ClientWithScopesAsync("school:100004");
        for (var i = 0; i < 3; i++)
        {
            (await school.PostAsJsonAsync("/api/v1/enrolments", TestApp.Person($"T-{i}"))).EnsureSuccessStatusCode();
        }

        await Problem.AssertAsync(await school.PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-3")), HttpStatusCode.TooManyRequests, "Authorization");
        Assert.Equal(3, app.Count("enrolments"));
    }

    [Fact]
    public async Task requests_without_a_key_are_not_counted_against_any_key()
    {
        await using var app = SmallBuckets();
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().GetAsync("/healthz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().PostAsync("/tick", null)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await app.Anonymous().GetAsync("/verify/7K3M-9QZ2-X4TB")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await app.Anonymous().GetAsync(Programme)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await app.WithKey("swk_not-a-real-key").GetAsync(Programme)).StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.Admin().GetAsync(Programme)).StatusCode);
        }
    }

    [Fact]
    public async Task the_default_limits_let_one_key_send_thousands_of_requests_a_second()
    {
        await using var app = new TestApp();
        var admin = app.Admin();
        var answers = await Task.WhenAll(Enumerable.Range(0, 2_000).Select(_ => admin.GetAsync("/api/v1/programmes/none")));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.NotFound, a.StatusCode));
    }

    [Theory]
    [InlineData("RateLimits:TokenLimit", "0")]
    [InlineData("RateLimits:TokensPerPeriod", "0")]
    [InlineData("RateLimits:TokensPerPeriod", "20000")]
    [InlineData("RateLimits:ReplenishmentPeriod", "00:00:00")]
    public void absurd_limits_stop_the_service_at_start(string key, string value)
    {
        using var app = new TestApp(settings: new() { [key] = value });
        var refused = Assert.ThrowsAny<Exception>(() => app.Services);
        Assert.Contains("RateLimits", refused.ToString(), StringComparison.Ordinal);
    }
}

public sealed class ClockedTokenBucketTests
{
    [Fact]
    public void tokens_come_back_per_whole_period_of_the_given_clock_and_retry_after_says_when()
    {
        var clock = new ManualClock();
        using var bucket = new ClockedTokenBucket(clock, tokenLimit: 4, tokensPerPeriod: 2, TimeSpan.FromSeconds(10));
        for (var i = 0; i < 4; i++)
        {
            Assert.True(bucket.AttemptAcquire().IsAcquired);
        }

        var refused = bucket.AttemptAcquire();
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var wait));
        Assert.Equal(TimeSpan.FromSeconds(10), wait);

        clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.False(bucket.AttemptAcquire().IsAcquired);
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(bucket.AttemptAcquire().IsAcquired);
        Assert.True(bucket.AttemptAcquire().IsAcquired);
        Assert.False(bucket.AttemptAcquire().IsAcquired);
        Assert.Null(bucket.IdleDuration);

        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(4, bucket.GetStatistics()!.CurrentAvailablePermits);
        Assert.NotNull(bucket.IdleDuration);
    }
}
