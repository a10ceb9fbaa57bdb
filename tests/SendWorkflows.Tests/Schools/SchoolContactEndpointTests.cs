using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Schools;

public sealed class SchoolContactEndpointTests
{
    private const string SchoolA = "100004";
    private const string SchoolB = "100005";

    private static string Contacts(string urn) => $"/api/v1/schools/{urn}/contacts";

    internal static async Task<JsonElement> AddContactAsync(HttpClient client, string urn, string name, string email)
    {
        var response = await client.PostAsJsonAsync(Contacts(urn), new { name, email });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<List<JsonElement>> ListAsync(HttpClient client, string urn)
    {
        var response = await client.GetAsync(Contacts(urn));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("contacts").EnumerateArray().ToList();
    }

    [Fact]
    public async Task a_contact_is_added_listed_and_removed()
    {
        await using var app = new TestApp();
        var admin = app.Admin();

        var response = await admin.PostAsJsonAsync(Contacts(SchoolA), new { name = "  Gráinne Nic Giolla Phádraig ", email = "head@school100004.example.org" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var added = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = added.GetProperty("id").GetString()!;
        Assert.Equal(SchoolA, added.GetProperty("schoolUrn").GetString());
        Assert.Equal("Gráinne Nic Giolla Phádraig", added.GetProperty("name").GetString());
        Assert.Equal("head@school100004.example.org", added.GetProperty("email").GetString());
        Assert.Equal(ManualClock.Monday9am, added.GetProperty("createdAt").GetDateTimeOffset());
        Assert.EndsWith($"{Contacts(SchoolA)}/{id}", response.Headers.Location!.ToString(), StringComparison.Ordinal);

        var listed = Assert.Single(await ListAsync(admin, SchoolA));
        Assert.Equal(added.GetRawText(), listed.GetRawText());
        Assert.Empty(await ListAsync(admin, SchoolB));

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"{Contacts(SchoolA)}/{id}")).StatusCode);
        Assert.Empty(await ListAsync(admin, SchoolA));
        await Problem.AssertAsync(await admin.DeleteAsync($"{Contacts(SchoolA)}/{id}"), HttpStatusCode.NotFound, "id");
        Assert.Equal(0, app.Count("school_contacts"));
    }

    [Fact]
    public async Task the_same_address_again_returns_the_existing_contact_whatever_its_case()
    {
        await using var app = new TestApp();
        var first = await AddContactAsync(app.Admin(), SchoolA, "Head", "Head@School100004.example.org");

        var again = await app.Admin().PostAsJsonAsync(Contacts(SchoolA), new { name = "Someone else", email = "head@school100004.EXAMPLE.org" });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(first.GetRawText(), (await again.Content.ReadFromJsonAsync<JsonElement>()).GetRawText());
        Assert.Equal(1, app.Count("school_contacts"));

        // The same person may be a contact for two schools (a trust's SEND lead).
        await AddContactAsync(app.Admin(), SchoolB, "Head", "head@school100004.example.org");
        Assert.Equal(2, app.Count("school_contacts"));
    }

    public static TheoryData<string, string, string, int, string> BadContacts => new()
    {
        { SchoolA, "{\"email\": \"head@school.example.org\"}", "application/json", 400, "name" },
        { SchoolA, "{\"name\": \"   \", \"email\": \"head@school.example.org\"}", "application/json", 400, "name" },
        { SchoolA, $"{{\"name\": \"{new string('x', 201)}\", \"email\": \"head@school.example.org\"}}", "application/json", 400, "name" },
        { SchoolA, "{\"name\": \"Head\\u0007\", \"email\": \"head@school.example.org\"}", "application/json", 400, "name" },
        { SchoolA, "{\"name\": \"Head\"}", "application/json", 400, "email" },
        { SchoolA, "{\"name\": \"Head\", \"email\": \"not-an-email\"}", "application/json", 400, "email" },
        { SchoolA, "{\"name\": \"Head\", \"email\": \"Head <head@school.example.org>\"}", "application/json", 400, "email" },
        { SchoolA, "{\"name\": \"Head\", \"email\": \"head@localhost\"}", "application/json", 400, "email" },
        { SchoolA, "{\"name\": \"Head\", \"email\": 42}", "application/json", 400, "email" },
        { SchoolA, "{\"name\": \"Head\", \"email\": \"head@school.example.org\", \"role\": \"senco\"}", "application/json", 400, "role" },
        { SchoolA, "{\"name\": \"Head\", ", "application/json", 400, "body" },
        { SchoolA, "null", "application/json", 400, "body" },
        { SchoolA, "name=Head", "application/x-www-form-urlencoded", 415, "Content-Type" },
        { "12345", "{\"name\": \"Head\", \"email\": \"head@school.example.org\"}", "application/json", 400, "urn" },
        { "ey123456", "{\"name\": \"Head\", \"email\": \"head@school.example.org\"}", "application/json", 400, "urn" },
    };

    [Theory]
    [MemberData(nameof(BadContacts))]
    public async Task bad_input_is_a_problem_naming_the_field_and_stores_nothing(string urn, string body, string contentType, int status, string field)
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsync(Contacts(urn), new StringContent(body, Encoding.UTF8, contentType));
        await Problem.AssertAsync(response, (HttpStatusCode)status, field);
        Assert.Equal(0, app.Count("school_contacts"));
    }

    [Fact]
    public async Task a_school_has_at_most_twenty_contacts()
    {
        await using var app = new TestApp();
        for (var i = 0; i < 20; i++)
        {
            await AddContactAsync(app.Admin(), SchoolA, $"Lead {i}", $"lead{i}@school100004.example.org");
        }

        var one = await app.Admin().PostAsJsonAsync(Contacts(SchoolA), new { name = "One too many", email = "extra@school100004.example.org" });
        await Problem.AssertAsync(one, HttpStatusCode.UnprocessableEntity, "email");
        Assert.Equal(20, app.Count("school_contacts"));

        // An address already there is still answered, and another school is not affected.
        var existing = await app.Admin().PostAsJsonAsync(Contacts(SchoolA), new { name = "Lead 3", email = "lead3@school100004.example.org" });
        Assert.Equal(HttpStatusCode.OK, existing.StatusCode);
        await AddContactAsync(app.Admin(), SchoolB, "Head", "head@school100005.example.org");
    }

    [Fact]
    public async Task a_school_key_manages_its_own_contacts_and_another_schools_look_like_they_do_not_exist()
    {
        await using var app = new TestApp();
        var keyA = await app.ClientWithScopesAsync($"school:{SchoolA}");
        var keyB = await app.ClientWithScopesAsync($"school:{SchoolB}");
        var contactOfA = await AddContactAsync(keyA, SchoolA, "Head of A", "head@school100004.example.org");
        var idOfA = contactOfA.GetProperty("id").GetString()!;
        Assert.Single(await ListAsync(keyA, SchoolA));

        await Problem.AssertAsync(await keyB.GetAsync(Contacts(SchoolA)), HttpStatusCode.NotFound, "urn");
        await Problem.AssertAsync(
            await keyB.PostAsJsonAsync(Contacts(SchoolA), new { name = "Intruder", email = "intruder@school100005.example.org" }),
            HttpStatusCode.NotFound, "urn");
        await Problem.AssertAsync(await keyB.DeleteAsync($"{Contacts(SchoolA)}/{idOfA}"), HttpStatusCode.NotFound, "urn");
        // Even bad input to another school's route is answered as "no such school", revealing nothing.
        await Problem.AssertAsync(await keyB.PostAsJsonAsync(Contacts(SchoolA), new { name = "" }), HttpStatusCode.NotFound, "urn");

        // School B's own contact id, asked for under school A, is not found either.
        var contactOfB = await AddContactAsync(keyB, SchoolB, "Head of B", "head@school100005.example.org");
        await Problem.AssertAsync(await keyA.DeleteAsync($"{Contacts(SchoolA)}/{contactOfB.GetProperty("id").GetString()}"), HttpStatusCode.NotFound, "id");

        Assert.Equal(1, app.Count("school_contacts", $"school_urn = '{SchoolA}'"));
        Assert.Equal(1, app.Count("school_contacts", $"school_urn = '{SchoolB}'"));
        Assert.Equal(HttpStatusCode.NoContent, (await keyA.DeleteAsync($"{Contacts(SchoolA)}/{idOfA}")).StatusCode);
    }

    [Fact]
    public async Task an_unknown_or_malformed_contact_id_is_404_naming_the_id()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"{Contacts(SchoolA)}/{Guid.NewGuid()}"), HttpStatusCode.NotFound, "id");
        await Problem.AssertAsync(await app.Admin().DeleteAsync($"{Contacts(SchoolA)}/not-a-guid"), HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task lms_and_sessions_keys_may_not_see_or_change_contacts()
    {
        await using var app = new TestApp();
        foreach (var scope in new[] { "lms", "sessions" })
        {
            var key = await app.ClientWithScopesAsync(scope);
            await Problem.AssertAsync(await key.GetAsync(Contacts(SchoolA)), HttpStatusCode.Forbidden, "Authorization");
            await Problem.AssertAsync(
                await key.PostAsJsonAsync(Contacts(SchoolA), new { name = "Head", email = "head@school100004.example.org" }),
                HttpStatusCode.Forbidden, "Authorization");
        }

        Assert.Equal(0, app.Count("school_contacts"));
    }
}
