using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Schools;

public sealed class SchoolDetailsEndpointTests
{
    [Fact]
    public async Task an_admin_sets_changes_and_removes_a_schools_local_authority()
    {
        await using var app = new TestApp();
        var set = await app.Admin().PutAsJsonAsync("/api/v1/schools/EY123456", new { localAuthority = "  Kingston upon Hull, City of " });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var body = await set.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("EY123456", body.GetProperty("schoolUrn").GetString());
        Assert.Equal("Kingston upon Hull, City of", body.GetProperty("localAuthority").GetString());
        Assert.Equal(1, app.Count("school_details", "local_authority = 'Kingston upon Hull, City of'"));

        (await app.Admin().PutAsJsonAsync("/api/v1/schools/EY123456", new { localAuthority = "East Riding of Yorkshire" })).EnsureSuccessStatusCode();
        Assert.Equal(1, app.Count("school_details", "local_authority = 'East Riding of Yorkshire'"));
        Assert.Equal(1, app.Count("school_details"));

        var removed = await app.Admin().PutAsync("/api/v1/schools/EY123456", new StringContent("{\"localAuthority\": null}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Equal(JsonValueKind.Null, (await removed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("localAuthority").ValueKind);
        Assert.Equal(0, app.Count("school_details"));
    }

    public static TheoryData<string, string, int, string> BadRequests => new()
    {
        { "100004", "{}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": \"\"}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": \"   \"}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": 383}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": \"Unknown\"}", 400, "localAuthority" },
        { "100004", $"{{\"localAuthority\": \"{new string('x', 101)}\"}}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": \"Leeds\\u0007\"}", 400, "localAuthority" },
        { "100004", "{\"localAuthority\": \"Leeds\", \"region\": \"Yorkshire\"}", 400, "region" },
        { "100004", "[\"Leeds\"]", 400, "body" },
        { "100004", "{\"localAuthority\": ", 400, "body" },
        { "1000", "{\"localAuthority\": \"Leeds\"}", 400, "urn" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task bad_input_is_refused_naming_the_field_and_nothing_is_stored(string urn, string json, int status, string field)
    {
        await using var app = new TestApp();
        var response = await app.Admin().PutAsync($"/api/v1/schools/{urn}", new StringContent(json, Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(response, (HttpStatusCode)status, field);
        Assert.Equal(0, app.Count("school_details"));
    }

    [Fact]
    public async Task a_school_cannot_set_its_own_local_authority()
    {
        await using var app = new TestApp();
        var school = await app.ClientWithScopesAsync("school:100004");
        await Problem.AssertAsync(await school.PutAsJsonAsync("/api/v1/schools/100004", new { localAuthority = "Leeds" }), HttpStatusCode.Forbidden, "Authorization");
        Assert.Equal(0, app.Count("school_details"));
    }
}
