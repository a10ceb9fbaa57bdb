using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Xapi;

/// <summary>POST /xapi/statements as a learning platform uses it, and as the xAPI 1.0.3 specification says it must behave.</summary>
public sealed class XapiStatementTests
{
    internal const string Base = "https://send.example.org";
    private const string School = "100004";
    internal const string Completed = "http://adlnet.gov/expapi/verbs/completed";
    private const string Passed = "http://adlnet.gov/expapi/verbs/passed";
    private const string Attended = "http://adlnet.gov/expapi/verbs/attended";
    private const string Experienced = "http://adlnet.gov/expapi/verbs/experienced";

    internal static string ModuleIri(string module, string programme = TestApp.Programme) => $"{Base}/programmes/{programme}/modules/{module}";

    internal static JsonObject ByRegistration(string enrolmentId, string verb, string activity, string? id = null, DateTimeOffset? at = null)
    {
        var statement = new JsonObject
        {
            ["actor"] = new JsonObject { ["mbox"] = "mailto:learner@school.example.org", ["name"] = "A learner" },
            ["verb"] = new JsonObject { ["id"] = verb, ["display"] = new JsonObject { ["en-GB"] = verb[(verb.LastIndexOf('/') + 1)..] } },
            ["object"] = new JsonObject { ["id"] = activity, ["objectType"] = "Activity" },
            ["context"] = new JsonObject { ["registration"] = enrolmentId },
        };
        if (id is not null)
        {
            statement.Insert(0, "id", id);
        }

        if (at is not null)
        {
            statement["timestamp"] = at.Value.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        }

        return statement;
    }

    internal static JsonObject ByAccount(string externalId, string verb, string activity, string school = School, string? id = null) => new()
    {
        ["id"] = id ?? Guid.NewGuid().ToString(),
        ["actor"] = new JsonObject { ["objectType"] = "Agent", ["account"] = new JsonObject { ["homePage"] = $"{Base}/schools/{school}", ["name"] = externalId } },
        ["verb"] = new JsonObject { ["id"] = verb },
        ["object"] = new JsonObject { ["id"] = activity },
    };

    internal static async Task<HttpResponseMessage> PostAsync(HttpClient client, JsonNode body, string? version = "1.0.3")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (version is not null)
        {
            request.Headers.Add("X-Experience-API-Version", version);
        }

        return await client.SendAsync(request);
    }

    internal static async Task<string[]> IdsAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        return JsonSerializer.Deserialize<string[]>(text)!;
    }

    internal static async Task<DateTimeOffset?> ModuleCompletedAtAsync(TestApp app, string enrolmentId, string module)
    {
        var entry = (await app.GetEnrolmentAsync(enrolmentId)).GetProperty("modules").EnumerateArray().Single(m => m.GetProperty("id").GetString() == module);
        return entry.TryGetProperty("completedAt", out var at) && at.ValueKind == JsonValueKind.String ? at.GetDateTimeOffset() : null;
    }

    [Fact]
    public async Task a_single_completed_statement_completes_the_module_and_answers_its_id()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var lms = await app.ClientWithScopesAsync("lms");
        var statementId = Guid.NewGuid().ToString();
        var at = app.Clock.GetUtcNow().AddHours(-2);

        var response = await PostAsync(lms, ByRegistration(id, Completed, ModuleIri("identification"), statementId, at));

        Assert.Equal([statementId], await IdsAsync(response));
        Assert.Equal("1.0.3", response.Headers.GetValues("X-Experience-API-Version").Single());
        Assert.Equal(at, await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.Equal("in_progress", await app.StatusOfAsync(id));
        Assert.Equal(1, app.Count("xapi_statements", $"id = '{statementId}' AND enrolment_id = '{id}'"));
    }

    [Fact]
    public async Task an_array_answers_the_ids_in_order_and_gives_ids_to_statements_without_one()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var first = Guid.NewGuid().ToString();
        var third = Guid.NewGuid().ToString();
        var batch = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("identification"), first),
            ByRegistration(id, Passed, ModuleIri("adaptive-teaching")),
            ByRegistration(id, Experienced, ModuleIri("visual-impairment"), third));

        var ids = await IdsAsync(await PostAsync(app.Admin(), batch));

        Assert.Equal(3, ids.Length);
        Assert.Equal(first, ids[0]);
        Assert.Equal(third, ids[2]);
        Assert.True(Guid.TryParseExact(ids[1], "D", out _));
        Assert.Equal(1, app.Count("xapi_statements", $"id = '{ids[1]}' AND {TestStore.JsonText("statement", "id")} = '{ids[1]}'"));
        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "adaptive-teaching"));
        Assert.Null(await ModuleCompletedAtAsync(app, id, "visual-impairment"));
        Assert.Equal(3, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task the_version_header_is_required_and_every_answer_carries_it()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statement = ByRegistration(id, Completed, ModuleIri("identification"));

        var missing = await PostAsync(app.Admin(), statement, version: null);
        await Problem.AssertAsync(missing, HttpStatusCode.BadRequest, "X-Experience-API-Version");
        Assert.Equal("1.0.3", missing.Headers.GetValues("X-Experience-API-Version").Single());

        await Problem.AssertAsync(await PostAsync(app.Admin(), statement, version: "0.95"), HttpStatusCode.BadRequest, "X-Experience-API-Version");
        await Problem.AssertAsync(await PostAsync(app.Admin(), statement, version: "1.1.0"), HttpStatusCode.BadRequest, "X-Experience-API-Version");
        var unauthenticated = await PostAsync(app.Anonymous(), statement);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        Assert.Equal("1.0.3", unauthenticated.Headers.GetValues("X-Experience-API-Version").Single());
        Assert.Equal(0, app.Count("xapi_statements"));

        // "1.0" is read as 1.0.0, and any 1.0.x is accepted.
        Assert.Single(await IdsAsync(await PostAsync(app.Admin(), statement, version: "1.0")));
        Assert.Single(await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification")), version: "1.0.1")));
    }

    [Fact]
    public async Task passed_on_a_module_counts_as_completing_it_and_attended_on_a_session_as_attendance()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync();
        var id = await EnrolOnSmallAsync(app, "T-1");
        await app.PutSessionAsync("leeds-1", "small", TimeSpan.FromHours(-3));
        var attendedAt = app.Clock.GetUtcNow().AddHours(-2.5); // during the session (it ran from -3 h to -2 h)

        var batch = new JsonArray(
            ByRegistration(id, Passed, ModuleIri("m1", "small")),
            ByRegistration(id, Completed, ModuleIri("m2", "small")),
            ByRegistration(id, Attended, $"{Base}/sessions/leeds-1", at: attendedAt));
        await IdsAsync(await PostAsync(app.Admin(), batch));

        var enrolment = await app.GetEnrolmentAsync(id);
        Assert.Equal("completed", enrolment.GetProperty("status").GetString());
        var session = enrolment.GetProperty("sessions").EnumerateArray().Single();
        Assert.Equal(attendedAt, session.GetProperty("attendedAt").GetDateTimeOffset());
    }

    private static async Task<string> EnrolOnSmallAsync(TestApp app, string externalId, string school = School) =>
        await app.EnrolAsync(externalId, school, "small");

    [Fact]
    public async Task the_person_is_found_by_their_account_at_their_school()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-42");
        var lms = await app.ClientWithScopesAsync("lms");

        await IdsAsync(await PostAsync(lms, ByAccount("T-42", Completed, ModuleIri("identification"))));

        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.Equal(1, app.Count("xapi_statements", $"enrolment_id = '{id}'"));
    }

    [Fact]
    public async Task an_account_enrolled_on_two_programmes_is_matched_by_the_activity()
    {
        await using var app = new TestApp();
        await app.PublishSmallProgrammeAsync();
        var core = await app.EnrolAsync("T-2");
        var small = await EnrolOnSmallAsync(app, "T-2");

        await IdsAsync(await PostAsync(app.Admin(), ByAccount("T-2", Completed, ModuleIri("m1", "small"))));

        Assert.NotNull(await ModuleCompletedAtAsync(app, small, "m1"));
        Assert.Equal("enrolled", await app.StatusOfAsync(core));
    }

    [Fact]
    public async Task a_module_s_own_activity_ids_map_existing_e_learning_content_to_it()
    {
        await using var app = new TestApp();
        var programme = TestApp.SmallProgramme("elearning");
        programme["modules"]![0]!["activityIds"] = new JsonArray("https://content.example.com/courses/sen-101", "urn:scorm:sen-101");
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/elearning", programme)).EnsureSuccessStatusCode();
        var id = await app.EnrolAsync("T-3", School, "elearning");

        await IdsAsync(await PostAsync(app.Admin(), ByAccount("T-3", Completed, "urn:scorm:sen-101")));

        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "m1"));
        Assert.Null(await ModuleCompletedAtAsync(app, id, "m2"));
    }

    [Fact]
    public async Task the_same_statement_sent_again_changes_nothing()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statementId = Guid.NewGuid().ToString();
        var statement = ByRegistration(id, Completed, ModuleIri("identification"), statementId, app.Clock.GetUtcNow().AddHours(-1));
        await IdsAsync(await PostAsync(app.Admin(), statement));
        var events = app.Count("enrolment_events");

        // The same statement, as another system might write it: keys reordered, another verb display,
        // an activity definition, the timestamp in another zone, the id in capitals, the context activity not in an array.
        var again = JsonNode.Parse(statement.ToJsonString())!.AsObject();
        again["id"] = statementId.ToUpperInvariant();
        again["verb"]!["display"] = new JsonObject { ["en-US"] = "completed it" };
        again["object"]!["definition"] = new JsonObject { ["name"] = new JsonObject { ["en"] = "Identification" } };
        again["timestamp"] = app.Clock.GetUtcNow().AddHours(-1).ToOffset(TimeSpan.FromHours(1)).ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture);
        var reordered = new JsonObject();
        foreach (var (key, value) in again.Reverse().ToList())
        {
            reordered[key] = value?.DeepClone();
        }

        Assert.Equal([statementId], await IdsAsync(await PostAsync(app.Admin(), reordered)));
        Assert.Equal(events, app.Count("enrolment_events"));
        Assert.Equal(1, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task the_same_id_with_different_content_is_a_conflict_and_changes_nothing()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statementId = Guid.NewGuid().ToString();
        await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification"), statementId)));

        var other = ByRegistration(id, Completed, ModuleIri("adaptive-teaching"), statementId);
        await Problem.AssertAsync(await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("visual-impairment")), other)),
            HttpStatusCode.Conflict, "[1].id");

        Assert.Null(await ModuleCompletedAtAsync(app, id, "adaptive-teaching"));
        Assert.Null(await ModuleCompletedAtAsync(app, id, "visual-impairment"));
        Assert.Equal(1, app.Count("xapi_statements"));

        // The first came without a timestamp, so the store gave it one: a timestamp now is not a difference.
        var withTimestamp = ByRegistration(id, Completed, ModuleIri("identification"), statementId, app.Clock.GetUtcNow().AddMinutes(-5));
        Assert.Equal([statementId], await IdsAsync(await PostAsync(app.Admin(), withTimestamp)));
        Assert.Equal(1, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task two_timestamps_for_the_same_id_that_are_different_moments_conflict()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statementId = Guid.NewGuid().ToString();
        await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification"), statementId, app.Clock.GetUtcNow().AddHours(-1))));

        var response = await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification"), statementId, app.Clock.GetUtcNow().AddHours(-2)));

        await Problem.AssertAsync(response, HttpStatusCode.Conflict, "id");
        Assert.Equal(app.Clock.GetUtcNow().AddHours(-1), await ModuleCompletedAtAsync(app, id, "identification"));
    }

    [Fact]
    public async Task one_bad_statement_rejects_the_whole_batch_and_nothing_is_stored()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var events = app.Count("enrolment_events");
        var batch = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("identification")),
            ByRegistration(id, Experienced, ModuleIri("identification")),
            ByRegistration(id, Completed, ModuleIri("astrophysics")));

        await Problem.AssertAsync(await PostAsync(app.Admin(), batch), HttpStatusCode.UnprocessableEntity, "[2].object.id");

        Assert.Equal(0, app.Count("xapi_statements"));
        Assert.Equal(events, app.Count("enrolment_events"));
        Assert.Null(await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task an_actor_with_two_identifiers_is_refused_naming_the_actor()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statement = ByRegistration(id, Completed, ModuleIri("identification"));
        statement["actor"]!["openid"] = "https://openid.example.org/learner";

        var response = await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("adaptive-teaching")), statement));

        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "[1].actor");
        Assert.Equal(0, app.Count("xapi_statements"));
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }

    [Theory]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"}}""", "object")]
    [InlineData("""{"actor":{"mbox":"a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"}}""", "actor.mbox")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"experienced"},"object":{"id":"https://x.org/a"}}""", "verb.id")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"/relative"}}""", "object.id")]
    [InlineData("""{"id":"not-a-uuid","actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"}}""", "id")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"timestamp":"yesterday"}""", "timestamp")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"Verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"}}""", "Verb")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org","name":null},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"}}""", "actor.name")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced","display":{"not a tag!":"x"}},"object":{"id":"https://x.org/a"}}""", "verb.display.not a tag!")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"result":{"score":{"scaled":1.5}}}""", "result.score.scaled")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"result":{"success":"true"}}""", "result.success")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"result":{"score":{"raw":1e400}}}""", "result.score.raw")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"result":{"duration":"1 hour"}}""", "result.duration")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"context":{"registration":"abc"}}""", "context.registration")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"version":"2.0.0"}""", "version")]
    [InlineData("""{"actor":{"objectType":"Group"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"}}""", "actor.member")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"id":"https://x.org/a"}}""", "object.objectType")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://x.org/a"},"attachments":[{"usageType":"https://x.org/u","display":{"en":"x"},"contentType":"text/plain","length":1,"sha2":"ab"}]}""", "attachments[0].fileUrl")]
    [InlineData("""{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"https://x.org/v"},"object":{"objectType":"SubStatement"}}}""", "object.object.objectType")]
    public async Task a_statement_that_breaks_the_specification_is_refused_naming_the_field(string statement, string field)
    {
        await using var app = new TestApp();
        var response = await PostAsync(app.Admin(), JsonNode.Parse(statement)!);
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(0, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task a_rich_statement_that_follows_the_specification_is_stored()
    {
        await using var app = new TestApp();
        const string statement = """
            {
              "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
              "actor": {"objectType": "Group", "name": "Team", "mbox": "mailto:team@example.com",
                        "member": [{"account": {"homePage": "http://www.example.com", "name": "13936749"}}, {"openid": "http://toby.openid.example.org/"}]},
              "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-GB": "answered", "en-US": "answered"}},
              "object": {"id": "http://www.example.com/q/1", "objectType": "Activity",
                         "definition": {"name": {"en": "Question"}, "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                                        "interactionType": "choice", "correctResponsesPattern": ["a[,]b"],
                                        "choices": [{"id": "a", "description": {"en": "A"}}, {"id": "b"}],
                                        "extensions": {"http://example.com/ext": {"anything": null}}}},
              "result": {"score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}, "success": true, "completion": false,
                         "response": "a[,]b", "duration": "PT1H0M0.5S", "extensions": {"http://example.com/r": [1, 2]}},
              "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "instructor": {"mbox_sha1sum": "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"},
                          "contextActivities": {"parent": {"id": "http://www.example.com/q"}, "category": [{"id": "http://www.example.com/c", "objectType": "Activity"}]},
                          "platform": "Example LMS", "language": "en-GB", "statement": {"objectType": "StatementRef", "id": "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"}},
              "timestamp": "2026-11-23T08:32:34.804+00:00",
              "version": "1.0.0",
              "attachments": [{"usageType": "http://example.com/u", "display": {"en": "A"}, "contentType": "text/plain", "length": 27,
                               "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a", "fileUrl": "https://files.example.com/a.txt"}]
            }
            """;

        Assert.Equal(["6690e6c9-3ef0-4ed3-8b37-7f3964730bee"], await IdsAsync(await PostAsync(app.Admin(), JsonNode.Parse(statement)!)));
        Assert.Equal(1, app.Count("xapi_statements", "enrolment_id IS NULL AND verb = 'http://adlnet.gov/expapi/verbs/answered'"));
    }

    [Fact]
    public async Task an_activity_that_maps_to_nothing_is_refused_naming_object_id()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        await app.PutSessionAsync("leeds-1", TestApp.Programme, TimeSpan.FromHours(-3));
        var cases = new (JsonObject Statement, string Field)[]
        {
            (ByRegistration(id, Completed, "https://content.example.com/unknown"), "object.id"),
            (ByRegistration(id, Completed, ModuleIri("astrophysics")), "object.id"),
            (ByRegistration(id, Completed, ModuleIri("m1", "another-programme")), "object.id"),
            (ByRegistration(id, Completed, $"{Base}/sessions/leeds-1"), "object.id"),
            (ByRegistration(id, Attended, ModuleIri("identification")), "object.id"),
            (ByRegistration(id, Attended, $"{Base}/sessions/no-such-session"), "object.id"),
        };
        foreach (var (statement, field) in cases)
        {
            await Problem.AssertAsync(await PostAsync(app.Admin(), statement), HttpStatusCode.UnprocessableEntity, field);
        }

        Assert.Equal(0, app.Count("xapi_statements"));
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task a_timestamp_more_than_five_minutes_ahead_is_refused_naming_it()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");

        var ahead = ByRegistration(id, Completed, ModuleIri("identification"), at: app.Clock.GetUtcNow().AddMinutes(6));
        await Problem.AssertAsync(await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Experienced, ModuleIri("identification")), ahead)),
            HttpStatusCode.BadRequest, "[1].timestamp");
        Assert.Equal(0, app.Count("xapi_statements"));

        var skewed = ByRegistration(id, Completed, ModuleIri("identification"), at: app.Clock.GetUtcNow().AddMinutes(4));
        await IdsAsync(await PostAsync(app.Admin(), skewed));
        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "identification"));
    }

    [Fact]
    public async Task other_verbs_are_stored_and_change_no_progress()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var events = app.Count("enrolment_events");
        var batch = new JsonArray(
            ByRegistration(id, Experienced, ModuleIri("identification")),
            ByRegistration(id, "http://adlnet.gov/expapi/verbs/failed", ModuleIri("identification")),
            ByRegistration(id, "https://w3id.org/xapi/video/verbs/played", "https://video.example.com/v/1"));

        Assert.Equal(3, (await IdsAsync(await PostAsync(app.Admin(), batch))).Length);

        Assert.Equal(3, app.Count("xapi_statements", $"enrolment_id = '{id}'"));
        Assert.Equal(events, app.Count("enrolment_events"));
        Assert.Equal("enrolled", await app.StatusOfAsync(id));
    }

    [Fact]
    public async Task a_school_key_cannot_report_progress_for_another_school_s_people()
    {
        await using var app = new TestApp();
        var inA = await app.EnrolAsync("T-1", "100004");
        var schoolB = await app.ClientWithScopesAsync("school:100005");

        await Problem.AssertAsync(await PostAsync(schoolB, ByRegistration(inA, Completed, ModuleIri("identification"))),
            HttpStatusCode.NotFound, "context.registration");
        await Problem.AssertAsync(await PostAsync(schoolB, ByAccount("T-1", Completed, ModuleIri("identification"), school: "100004")),
            HttpStatusCode.NotFound, "actor.account");
        // Even a statement that reports nothing is not filed against that person's enrolment.
        await IdsAsync(await PostAsync(schoolB, ByRegistration(inA, Experienced, ModuleIri("identification"))));

        Assert.Null(await ModuleCompletedAtAsync(app, inA, "identification"));
        Assert.Equal(0, app.Count("xapi_statements", "enrolment_id IS NOT NULL"));

        var schoolA = await app.ClientWithScopesAsync("school:100004");
        await IdsAsync(await PostAsync(schoolA, ByAccount("T-1", Completed, ModuleIri("identification"), school: "100004")));
        Assert.NotNull(await ModuleCompletedAtAsync(app, inA, "identification"));
    }

    [Fact]
    public async Task a_statement_that_does_not_say_whose_progress_it_is_is_refused()
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-1");
        var statement = ByAccount("T-1", Completed, ModuleIri("identification"));
        statement["actor"] = new JsonObject { ["mbox"] = "mailto:t-1@school100004.example.org" };
        await Problem.AssertAsync(await PostAsync(app.Admin(), statement), HttpStatusCode.UnprocessableEntity, "actor");

        var unknown = ByAccount("nobody", Completed, ModuleIri("identification"));
        await Problem.AssertAsync(await PostAsync(app.Admin(), unknown), HttpStatusCode.NotFound, "actor.account");
        Assert.Equal(0, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task progress_for_a_withdrawn_enrolment_is_refused_like_any_other_report()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/withdrawal", null)).EnsureSuccessStatusCode();

        await Problem.AssertAsync(await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("identification")))),
            HttpStatusCode.Conflict, "[0].context.registration");
        Assert.Equal(0, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task repeated_ids_in_one_batch_and_malformed_bodies_are_refused()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statementId = Guid.NewGuid().ToString();
        var twice = new JsonArray(ByRegistration(id, Completed, ModuleIri("identification"), statementId),
            ByRegistration(id, Completed, ModuleIri("identification"), statementId));
        await Problem.AssertAsync(await PostAsync(app.Admin(), twice), HttpStatusCode.BadRequest, "[1].id");
        await Problem.AssertAsync(await PostAsync(app.Admin(), new JsonArray()), HttpStatusCode.BadRequest, "body");
        await Problem.AssertAsync(await PostAsync(app.Admin(), JsonValue.Create("a statement")!), HttpStatusCode.BadRequest, "body");

        using var duplicateKey = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements")
        {
            Content = new StringContent("""{"actor":{"mbox":"mailto:a@b.org"},"actor":{"mbox":"mailto:c@d.org"},"verb":{"id":"https://x.org/v"},"object":{"id":"https://x.org/a"}}""",
                Encoding.UTF8, "application/json"),
        };
        duplicateKey.Headers.Add("X-Experience-API-Version", "1.0.3");
        await Problem.AssertAsync(await app.Admin().SendAsync(duplicateKey), HttpStatusCode.BadRequest, "body");

        using var multipart = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements") { Content = new StringContent("--x--", Encoding.UTF8, "multipart/mixed") };
        multipart.Headers.Add("X-Experience-API-Version", "1.0.3");
        await Problem.AssertAsync(await app.Admin().SendAsync(multipart), HttpStatusCode.UnsupportedMediaType, "Content-Type");

        var tooMany = new JsonArray(Enumerable.Range(0, 1001).Select(_ => (JsonNode)ByRegistration(id, Experienced, ModuleIri("identification"))).ToArray());
        await Problem.AssertAsync(await PostAsync(app.Admin(), tooMany), HttpStatusCode.BadRequest, "body");
        Assert.Equal(0, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task attendance_cannot_be_reported_before_the_session_starts()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        await app.PutSessionAsync("later", TestApp.Programme, TimeSpan.FromDays(2));
        await Problem.AssertAsync(await PostAsync(app.Admin(), ByRegistration(id, Attended, $"{Base}/sessions/later")), HttpStatusCode.Conflict, "object.id");
        Assert.Equal(0, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task a_learning_platform_may_send_its_key_by_http_basic()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var (_, key) = await app.CreateApiClientAsync("lms");
        var client = app.Anonymous();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"lms:{key}")));

        await IdsAsync(await PostAsync(client, ByRegistration(id, Completed, ModuleIri("identification"))));

        // Elsewhere the API takes bearer keys only.
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/api/v1/enrolments/{id}")).StatusCode);
    }
}
