using System.Net;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// A request that accepted only text/csv (a school report for a spreadsheet) and was refused by
/// authentication or the idempotency check got a 500: the framework's problem writer declined to
/// write JSON to it, and the middleware treated that as a failure.
/// </summary>
public sealed class ProblemsWhateverTheAcceptHeaderTests
{
    [Fact]
    public async Task a_missing_key_on_a_request_accepting_only_csv_is_a_401_problem()
    {
        await using var app = new TestApp();
        foreach (var client in new[] { app.Anonymous(), app.WithKey("swk_not-a-real-key") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/programmes/{TestApp.Programme}");
            request.Headers.Accept.ParseAdd("text/csv");
            var problem = await Problem.AssertAsync(await client.SendAsync(request), HttpStatusCode.Unauthorized, "Authorization");
            Assert.Equal("An API key is required.", problem.GetProperty("title").GetString());
        }
    }

    [Fact]
    public async Task a_bad_idempotency_key_on_a_csv_batch_is_a_400_problem()
    {
        await using var app = new TestApp();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/enrolments/batch")
        {
            Content = new StringContent("programmeId,schoolUrn,externalId,givenName,familyName,email,role\r\n", System.Text.Encoding.UTF8, "text/csv"),
        };
        request.Headers.Accept.ParseAdd("text/csv");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", new string('k', 300));
        await Problem.AssertAsync(await app.Admin().SendAsync(request), HttpStatusCode.BadRequest, "Idempotency-Key");
        Assert.Equal(0, app.Count("idempotent_requests"));
    }
}
