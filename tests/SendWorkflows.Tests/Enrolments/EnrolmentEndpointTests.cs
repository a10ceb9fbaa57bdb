using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Enrolments;

public sealed class EnrolmentEndpointTests
{
    [Fact]
    public async Task enrolling_the_same_person_again_returns_the_same_enrolment_and_sends_one_welcome()
    {
        await using var app = new TestApp();
        var first = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-1"));
        var again = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-1"));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        Assert.Equal(id, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());

        await app.TickAsync();
        Assert.Single(app.OutboxFiles("welcome"));
        Assert.Equal(1, app.Count("enrolments"));
    }

    [Fact]
    public async Task enrolling_again_with_a_corrected_email_updates_the_contact_details()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var corrected = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("T-1", email: "corrected@example.org"));
        Assert.Equal(HttpStatusCode.OK, corrected.StatusCode);
        Assert.Equal("corrected@example.org", (await app.GetEnrolmentAsync(id)).GetProperty("staff").GetProperty("email").GetString());
        Assert.Equal(1, app.Count("enrolment_events", "type = 'contact_details_changed'"));
    }

    [Fact]
    public async Task an_enrolment_keeps_the_programme_version_it_started_on()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync("pinned", liveSessions: 0);
        var early = await app.EnrolAsync("T-1", programme: "pinned");

        var v2 = TestApp.SmallProgramme("pinned", liveSessions: 0);
        ((JsonArray)v2["modules"]!).Add(new JsonObject { ["id"] = "m3", ["title"] = "Module three", ["cpdMinutes"] = 20, ["required"] = true });
        var put = await app.Admin().PutAsJsonAsync("/api/v1/programmes/pinned", v2);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(2, (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("version").GetInt32());
        var late = await app.EnrolAsync("T-2", programme: "pinned");

        Assert.Equal(1, (await app.GetEnrolmentAsync(early)).GetProperty("programmeVersion").GetInt32());
        Assert.Equal(2, (await app.GetEnrolmentAsync(late)).GetProperty("programmeVersion").GetInt32());

        foreach (var id in new[] { early, late })
        {
            foreach (var m in new[] { "m1", "m2" })
            {
                (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/{m}/completion", null)).EnsureSuccessStatusCode();
            }
        }

        Assert.Equal("completed", await app.StatusOfAsync(early));
        Assert.Equal("in_progress", await app.StatusOfAsync(late));
        var m3OnV1 = await app.Admin().PostAsync($"/api/v1/enrolments/{early}/modules/m3/completion", null);
        await Problem.AssertAsync(m3OnV1, HttpStatusCode.UnprocessableEntity, "moduleId");
    }

    [Fact]
    public async Task a_batch_answers_each_row_in_input_order_and_one_bad_row_blocks_none_of_the_others()
    {
        await using var app = new TestApp();
        var existing = await app.EnrolAsync("T-0");
        var rows = new object[]
        {
            TestApp.Person("T-1"),
            new { programmeId = TestApp.Programme, schoolUrn = "100004", staff = new { externalId = "T-2", givenName = "A", familyName = "B", email = "not-an-email", role = "teacher" } },
            TestApp.Person("T-0"),
            TestApp.Person("T-3", school: "EY123456"),
            TestApp.Person("T-1"),
            new { programmeId = "no-such-programme", schoolUrn = "100004", staff = new { externalId = "T-4", givenName = "A", familyName = "B", email = "a@b.org", role = "teacher" } },
            new { programmeId = TestApp.Programme, schoolUrn = "100004", staff = new { externalId = "T-5", givenName = "A", familyName = "B", email = "a@b.org", role = "head" } },
            "not an object",
            new { programmeId = TestApp.Programme, schoolUrn = 100004 },
        };

        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments/batch", rows);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(rows.Length, results.Count);
        Assert.Equal(Enumerable.Range(0, rows.Length), results.Select(r => r.GetProperty("index").GetInt32()));

        Assert.Equal(201, results[0].GetProperty("status").GetInt32());
        AssertRowProblem(results[1], 400, "staff.email");
        Assert.Equal(200, results[2].GetProperty("status").GetInt32());
        Assert.Equal(existing, results[2].GetProperty("id").GetString());
        Assert.Equal(201, results[3].GetProperty("status").GetInt32());
        AssertRowProblem(results[4], 400, "staff.externalId");
        AssertRowProblem(results[5], 422, "programmeId");
        AssertRowProblem(results[6], 400, "staff.role");
        AssertRowProblem(results[7], 400, "body");
        AssertRowProblem(results[8], 400, "schoolUrn");

        Assert.Equal(3, app.Count("enrolments"));
        Assert.Equal(3, app.Count("outbox", "template = 'welcome'"));
    }

    /// <summary>
    /// People enrolled together get ids that increase in the order of the rows and carry the enrolment's
    /// instant, so they are stored side by side.
    /// </summary>
    [Fact]
    public async Task a_batch_gives_its_new_enrolments_ids_in_row_order_stamped_with_the_time_of_enrolment()
    {
        await using var app = new TestApp();
        var rows = Enumerable.Range(0, 50).Select(i => TestApp.Person($"T-{i}")).ToList();

        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments/batch", rows);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ids = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results").EnumerateArray()
            .Select(r => Guid.Parse(r.GetProperty("id").GetString()!)).ToList();
        Assert.Equal(50, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Equal(7, id.Version));
        var text = ids.Select(i => i.ToString()).ToList();
        Assert.Equal(text.Order(StringComparer.Ordinal), text);
        Assert.StartsWith(app.Clock.GetUtcNow().ToUnixTimeMilliseconds().ToString("x12")[..8], text[0], StringComparison.Ordinal);
        Assert.Equal(text[0], app.Text("SELECT id FROM enrolments ORDER BY id LIMIT 1"));
        Assert.Equal(text[^1], app.Text("SELECT id FROM enrolments ORDER BY id DESC LIMIT 1"));
    }

    /// <summary>Rows are checked and enrolled a chunk at a time; a person repeated in a later chunk is still found.</summary>
    [Fact]
    public async Task a_batch_larger_than_one_transaction_finds_a_person_repeated_far_apart_and_answers_in_order()
    {
        await using var app = new TestApp();
        var rows = Enumerable.Range(0, 2_500).Select(i => (object)TestApp.Person($"T-{i}")).ToList();
        rows[2_100] = TestApp.Person("T-5");
        rows[1_500] = "not an object";

        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments/batch", rows);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, rows.Count), results.Select(r => r.GetProperty("index").GetInt32()));
        AssertRowProblem(results[2_100], 400, "staff.externalId");
        Assert.Contains("index 5 ", results[2_100].GetProperty("problem").GetProperty("detail").GetString(), StringComparison.Ordinal);
        AssertRowProblem(results[1_500], 400, "body");
        Assert.Equal(2_498, results.Count(r => r.GetProperty("status").GetInt32() == 201));
        Assert.Equal(2_498, app.Count("enrolments"));
    }

    /// <summary>Broken syntax anywhere, or a property given twice in any row, refuses the whole batch: nothing is enrolled.</summary>
    [Theory]
    [InlineData("[ROW, ROW", "not valid JSON")]
    [InlineData("[ROW, ROW] trailing", "not valid JSON")]
    [InlineData("[ROW, {\"programmeId\": \"a\", \"programmeId\": \"b\"}]", "not valid JSON (near $[1]")]
    [InlineData("{\"rows\": [ROW]}", "")]
    public async Task a_batch_that_is_not_a_well_formed_array_is_refused_whole(string template, string detail)
    {
        await using var app = new TestApp();
        var row = JsonSerializer.Serialize(TestApp.Person("T-1"));

        var response = await app.Admin().PostAsync("/api/v1/enrolments/batch",
            new StringContent(template.Replace("ROW", row, StringComparison.Ordinal), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.True(problem.Contains(detail, StringComparison.Ordinal), problem);
        Assert.Equal(0, app.Count("enrolments"));
    }

    private static void AssertRowProblem(JsonElement row, int status, string field)
    {
        Assert.Equal(status, row.GetProperty("status").GetInt32());
        var problem = row.GetProperty("problem");
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"row problem should name {field}: {problem}");
        Assert.Equal(JsonValueKind.Null, row.GetProperty("id").ValueKind);
    }

    public static TheoryData<string, string, int, string> BadEnrolments => new()
    {
        { "{\"programmeId\": \"send-inclusion-core\", ", "application/json", 400, "body" },
        { "{\"programmeId\": 7, \"schoolUrn\": \"100004\"}", "application/json", 400, "programmeId" },
        { "{\"programmeId\": \"send-inclusion-core\", \"schoolUrn\": \"100004\", \"staff\": {\"externalId\": [1]}}", "application/json", 400, "staff.externalId" },
        { "null", "application/json", 400, "body" },
        { "[]", "application/json", 400, "body" },
        { "{\"schoolUrn\": \"100004\", \"staff\": {\"externalId\": \"X\", \"givenName\": \"A\", \"familyName\": \"B\", \"email\": \"a@b.org\", \"role\": \"teacher\"}}", "application/json", 400, "programmeId" },
        { "{\"programmeId\": \"send-inclusion-core\", \"schoolUrn\": \"12345\", \"staff\": {\"externalId\": \"X\", \"givenName\": \"A\", \"familyName\": \"B\", \"email\": \"a@b.org\", \"role\": \"teacher\"}}", "application/json", 400, "schoolUrn" },
        { "{\"programmeId\": \"send-inclusion-core\", \"schoolUrn\": \"100004\"}", "application/json", 400, "staff" },
        { "{\"programmeId\": \"send-inclusion-core\", \"schoolUrn\": \"100004\", \"staff\": {\"externalId\": \"X\", \"givenName\": \"\", \"familyName\": \"B\", \"email\": \"a@b.org\", \"role\": \"teacher\"}}", "application/json", 400, "staff.givenName" },
        { "{\"programmeId\": \"send-inclusion-core\", \"schoolUrn\": \"100004\", \"staff\": {\"externalId\": \"X\", \"givenName\": \"A\", \"familyName\": \"B\", \"email\": \"a@b\", \"role\": \"teacher\"}}", "application/json", 400, "staff.email" },
        { "{\"programmeId\": \"nope\", \"schoolUrn\": \"100004\", \"staff\": {\"externalId\": \"X\", \"givenName\": \"A\", \"familyName\": \"B\", \"email\": \"a@b.org\", \"role\": \"teacher\"}}", "application/json", 422, "programmeId" },
        { "programmeId=send-inclusion-core", "application/x-www-form-urlencoded", 415, "Content-Type" },
    };

    [Theory]
    [MemberData(nameof(BadEnrolments))]
    public async Task bad_enrolment_input_gets_a_problem_naming_the_field_and_stores_nothing(string body, string contentType, int status, string field)
    {
        await using var app = new TestApp();
        var response = await app.Admin().PostAsync("/api/v1/enrolments", new StringContent(body, Encoding.UTF8, contentType));
        await Problem.AssertAsync(response, (HttpStatusCode)status, field);
        Assert.Equal(0, app.Count("enrolments"));
        Assert.Equal(0, app.Count("outbox"));
    }

    [Fact]
    public async Task an_oversized_body_is_refused_with_413()
    {
        await using var app = new TestApp();
        var huge = JsonSerializer.Serialize(new { programmeId = TestApp.Programme, padding = new string('x', 300_000) });
        var response = await app.Admin().PostAsync("/api/v1/enrolments", new StringContent(huge, Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(response, HttpStatusCode.RequestEntityTooLarge, "body");
        Assert.Equal(0, app.Count("enrolments"));
    }

    [Fact]
    public async Task a_withdrawn_person_gets_no_progress_recorded_until_reinstated()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var withdraw = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/withdrawal", new { reason = "left the school" });
        Assert.Equal(HttpStatusCode.OK, withdraw.StatusCode);
        Assert.Equal("withdrawn", await app.StatusOfAsync(id));

        var progress = await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null);
        await Problem.AssertAsync(progress, HttpStatusCode.Conflict, "enrolmentId");
        Assert.Equal(0, app.Count("enrolment_events", "type = 'module_completed'"));

        Assert.Equal(HttpStatusCode.OK, (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/reinstatement", null)).StatusCode);
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
        Assert.Equal(HttpStatusCode.OK, (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null)).StatusCode);
        Assert.Equal("in_progress", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task the_deadline_lapses_an_enrolment_on_time_and_an_extension_reopens_it()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync("short", window: "P10D");
        var id = await app.EnrolAsync("T-1", programme: "short");
        var deadline = (await app.GetEnrolmentAsync(id)).GetProperty("deadline").GetDateTimeOffset();

        app.Clock.Set(deadline.AddSeconds(-1));
        await app.TickAsync();
        Assert.Equal("enrolled", await app.StatusOfAsync(id));

        app.Clock.Set(deadline);
        Assert.Equal(1, (await app.TickAsync()).GetProperty("timersFired").GetInt32());
        Assert.Equal("lapsed", await app.StatusOfAsync(id));
        Assert.Equal(0, (await app.TickAsync()).GetProperty("timersFired").GetInt32());

        var tooEarly = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension", new { deadline = deadline.AddDays(-1) });
        await Problem.AssertAsync(tooEarly, HttpStatusCode.UnprocessableEntity, "deadline");
        var missing = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension", new { });
        await Problem.AssertAsync(missing, HttpStatusCode.BadRequest, "deadline");
        var noOffset = await app.Admin().PostAsync($"/api/v1/enrolments/{id}/deadline-extension",
            new StringContent("{\"deadline\": \"2027-01-31T12:00:00\"}", Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(noOffset, HttpStatusCode.BadRequest, "deadline");

        var extended = await app.Admin().PostAsJsonAsync($"/api/v1/enrolments/{id}/deadline-extension", new { deadline = deadline.AddDays(14) });
        Assert.Equal(HttpStatusCode.OK, extended.StatusCode);
        Assert.Equal("enrolled", await app.StatusOfAsync(id));

        app.Clock.Set(deadline.AddDays(14));
        await app.TickAsync();
        Assert.Equal("lapsed", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task an_unknown_enrolment_id_is_404_naming_the_id()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().GetAsync($"/api/v1/enrolments/{Guid.NewGuid()}"), HttpStatusCode.NotFound, "id");
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/enrolments/not-a-guid"), HttpStatusCode.NotFound, "id");
        await Problem.AssertAsync(await app.Admin().PostAsync($"/api/v1/enrolments/{Guid.NewGuid()}/withdrawal", null), HttpStatusCode.NotFound, "id");
    }
}
