using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// Two platforms sending one statement id with different content at the same moment: on PostgreSQL
/// both looked for the id before either had stored it, and the second was answered 200 and dropped,
/// where one request after the other gets 409.
/// </summary>
public sealed class SameXapiStatementAtOnceTests
{
    [Fact]
    public async Task of_two_different_statements_sent_at_once_with_one_id_one_is_stored_and_the_other_refused()
    {
        await using var app = new TestApp();
        var people = new[] { "T-1", "T-2", "T-3", "T-4" };
        foreach (var person in people)
        {
            await app.EnrolAsync(person);
        }

        for (var round = 0; round < 5; round++)
        {
            var id = Guid.NewGuid().ToString();
            var responses = await Task.WhenAll(people.Select(person => PostAsync(app.Admin(), Statement(id, person))));

            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
            Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
            Assert.Equal(1, app.Count("xapi_statements", $"id = '{id}'"));
        }
    }

    private static JsonObject Statement(string id, string externalId) => new()
    {
        ["id"] = id,
        ["actor"] = new JsonObject
        {
            ["objectType"] = "Agent",
            ["account"] = new JsonObject { ["homePage"] = "https://send.example.org/schools/100004", ["name"] = externalId },
        },
        ["verb"] = new JsonObject { ["id"] = "http://adlnet.gov/expapi/verbs/completed" },
        ["object"] = new JsonObject { ["id"] = $"https://send.example.org/programmes/{TestApp.Programme}/modules/identification" },
    };

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, JsonNode body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Experience-API-Version", "1.0.3");
        return await client.SendAsync(request);
    }
}
