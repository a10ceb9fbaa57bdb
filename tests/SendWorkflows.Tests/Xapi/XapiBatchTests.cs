using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Tests.Webhooks;
using SendWorkflows.Workflow;
using static SendWorkflows.Tests.Xapi.XapiStatementTests;

namespace SendWorkflows.Tests.Xapi;

/// <summary>
/// A batch of statements is read, decided and written as a whole: these pin that it still means
/// exactly what the same statements would mean one at a time, in their order.
/// </summary>
public sealed class XapiBatchTests
{
    private const string School = "100004";

    private static long ModuleEvents(TestApp app, string id, string module = "%") =>
        app.Count("enrolment_events", $"enrolment_id = '{id}' AND type = 'module_completed' AND event_key LIKE 'module:{module}:%'");

    private static long Version(TestApp app, string id) => app.Scalar($"SELECT version FROM enrolments WHERE id = '{id}'");

    [Fact]
    public async Task statements_about_one_person_are_applied_in_the_order_of_the_batch()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var now = app.Clock.GetUtcNow();
        // An hour ago, then earlier (a correction, which counts), then in between (older news than the correction: no change).
        var batch = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("identification"), at: now.AddHours(-1)),
            Dated(ByAccount("T-1", Completed, ModuleIri("identification")), now.AddHours(-3)),
            ByRegistration(id, Completed, ModuleIri("identification"), at: now.AddHours(-2)),
            ByRegistration(id, Completed, ModuleIri("adaptive-teaching"), at: now.AddHours(-2)));

        Assert.Equal(4, (await IdsAsync(await PostAsync(app.Admin(), batch))).Length);

        Assert.Equal(now.AddHours(-3), await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.Equal(now.AddHours(-2), await ModuleCompletedAtAsync(app, id, "adaptive-teaching"));
        // Taken the other way round, the batch would have stored -2 h and -3 h for identification instead.
        Assert.Equal(1, app.Count("enrolment_events", $"enrolment_id = '{id}' AND event_key = 'module:identification:{now.AddHours(-1).UtcTicks}'"));
        Assert.Equal(1, app.Count("enrolment_events", $"enrolment_id = '{id}' AND event_key = 'module:identification:{now.AddHours(-3).UtcTicks}'"));
        Assert.Equal(3, ModuleEvents(app, id));
        Assert.Equal(1 + 3, Version(app, id));
        Assert.Equal(4, app.Count("xapi_statements", $"enrolment_id = '{id}'"));
    }

    [Fact]
    public async Task the_stored_status_follows_the_state_whether_a_batch_changes_it_or_not()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var now = app.Clock.GetUtcNow();
        string? Column() => app.Text($"SELECT status FROM enrolments WHERE id = '{id}'");
        Assert.Equal("enrolled", Column());

        await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("identification"), at: now.AddHours(-2))));
        Assert.Equal("in_progress", Column());

        // Progress that leaves the status as it was writes the state, and the column still agrees with it.
        await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("adaptive-teaching"), at: now.AddHours(-1))));
        Assert.Equal("in_progress", Column());
        Assert.Equal(now.AddHours(-1), await ModuleCompletedAtAsync(app, id, "adaptive-teaching"));
        Assert.Equal(1 + 2, Version(app, id));
        Assert.Equal(1, app.Count("enrolments", $"id = '{id}' AND status = {TestStore.JsonText("state", "status")}"));
        // Read back and written again twice: the name outside ASCII comes through unchanged.
        Assert.Equal("Brontë-Ødegaard", app.Text($"SELECT {TestStore.JsonText("state", "staff", "familyName")} FROM enrolments WHERE id = '{id}'"));
    }

    [Fact]
    public async Task a_body_of_unknown_length_is_read_and_one_over_the_limit_is_413_with_nothing_stored()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var statement = new JsonArray(ByRegistration(id, Completed, ModuleIri("identification"), at: app.Clock.GetUtcNow().AddHours(-1)));

        // Sent without a Content-Length (chunked): read by the general path.
        using (var chunked = new HttpRequestMessage(HttpMethod.Post, "/xapi/statements"))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(statement.ToJsonString());
            chunked.Content = new StreamContent(new NoLengthStream(bytes));
            chunked.Content.Headers.ContentType = new("application/json");
            chunked.Headers.Add("X-Experience-API-Version", "1.0.3");
            var answer = await app.Admin().SendAsync(chunked);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        Assert.Equal(1, ModuleEvents(app, id));

        // A megabyte and more, in statements that are each fine: refused for its size alone.
        var big = new JsonArray();
        for (var i = 0; i < 2_000; i++)
        {
            var s = ByRegistration(id, Completed, ModuleIri("adaptive-teaching"), at: app.Clock.GetUtcNow().AddMinutes(-i - 1));
            s["result"] = new JsonObject { ["response"] = new string('x', 600) };
            big.Add(s);
        }

        await Problem.AssertAsync(await PostAsync(app.Admin(), big), HttpStatusCode.RequestEntityTooLarge, "body");
        Assert.Equal(1, ModuleEvents(app, id));
        Assert.Equal(1, app.Count("xapi_statements"));
    }

    /// <summary>A stream that will not say how long it is, so the request goes without a Content-Length.</summary>
    private sealed class NoLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    private static JsonObject Dated(JsonObject statement, DateTimeOffset at)
    {
        statement["timestamp"] = at.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        return statement;
    }

    [Fact]
    public async Task progress_repeated_within_a_batch_or_already_stored_is_one_event()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var at = app.Clock.GetUtcNow().AddHours(-1);
        (await app.Admin().PostAsJsonAsync("/api/v1/progress",
            new { programmeId = TestApp.Programme, schoolUrn = School, externalId = "T-1", moduleId = "adaptive-teaching", completedAt = at })).EnsureSuccessStatusCode();
        var version = Version(app, id);

        var batch = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("identification"), at: at),
            ByRegistration(id, Completed, ModuleIri("identification"), at: at),
            ByRegistration(id, Completed, ModuleIri("adaptive-teaching"), at: at));
        var ids = await IdsAsync(await PostAsync(app.Admin(), batch));

        Assert.Equal(3, ids.Distinct().Count());
        Assert.Equal(3, app.Count("xapi_statements", $"enrolment_id = '{id}'"));
        Assert.Equal(1, ModuleEvents(app, id, "identification"));
        Assert.Equal(1, ModuleEvents(app, id, "adaptive-teaching"));
        Assert.Equal(version + 1, Version(app, id));
    }

    [Fact]
    public async Task a_statement_already_stored_is_left_alone_while_the_rest_of_its_batch_is_applied()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var other = await app.EnrolAsync("T-2");
        var stored = ByRegistration(id, Completed, ModuleIri("identification"), Guid.NewGuid().ToString(), app.Clock.GetUtcNow().AddHours(-1));
        await IdsAsync(await PostAsync(app.Admin(), stored));
        var version = Version(app, id);

        var batch = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("adaptive-teaching")),
            stored.DeepClone(),
            ByAccount("T-2", Completed, ModuleIri("identification")),
            ByRegistration(id, Completed, ModuleIri("visual-impairment")));
        var ids = await IdsAsync(await PostAsync(app.Admin(), batch));

        Assert.Equal(stored["id"]!.GetValue<string>(), ids[1]);
        Assert.Equal(4, app.Count("xapi_statements"));
        Assert.Equal(3, ModuleEvents(app, id));
        Assert.Equal(1, ModuleEvents(app, other));
        Assert.Equal(version + 2, Version(app, id));
        Assert.Equal(app.Clock.GetUtcNow().AddHours(-1), await ModuleCompletedAtAsync(app, id, "identification"));
    }

    [Fact]
    public async Task a_stored_id_with_other_content_refuses_the_whole_batch_whoever_else_it_is_about()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        var other = await app.EnrolAsync("T-2");
        var statementId = Guid.NewGuid().ToString();
        await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification"), statementId)));
        var (version, otherVersion, events) = (Version(app, id), Version(app, other), app.Count("enrolment_events"));

        var batch = new JsonArray(
            ByRegistration(other, Completed, ModuleIri("identification")),
            ByRegistration(id, Completed, ModuleIri("adaptive-teaching")),
            ByRegistration(id, Completed, ModuleIri("visual-impairment"), statementId),
            ByRegistration(other, Completed, ModuleIri("adaptive-teaching")));

        await Problem.AssertAsync(await PostAsync(app.Admin(), batch), HttpStatusCode.Conflict, "[2].id");
        Assert.Equal(1, app.Count("xapi_statements"));
        Assert.Equal(events, app.Count("enrolment_events"));
        Assert.Equal((version, otherVersion), (Version(app, id), Version(app, other)));
    }

    [Fact]
    public async Task the_first_statement_refused_is_the_answer_whether_its_enrolment_or_its_form_refuses_it()
    {
        await using var app = new TestApp();
        var withdrawn = await app.EnrolAsync("T-1");
        var id = await app.EnrolAsync("T-2");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{withdrawn}/withdrawal", null)).EnsureSuccessStatusCode();

        var enrolmentFirst = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("identification")),
            ByRegistration(withdrawn, Completed, ModuleIri("identification")),
            ByRegistration(id, Completed, ModuleIri("astrophysics")));
        await Problem.AssertAsync(await PostAsync(app.Admin(), enrolmentFirst), HttpStatusCode.Conflict, "[1].context.registration");

        var formFirst = new JsonArray(
            ByRegistration(id, Completed, ModuleIri("astrophysics")),
            ByRegistration(withdrawn, Completed, ModuleIri("identification")));
        await Problem.AssertAsync(await PostAsync(app.Admin(), formFirst), HttpStatusCode.UnprocessableEntity, "[0].object.id");

        Assert.Equal(0, app.Count("xapi_statements"));
        Assert.Equal(0, ModuleEvents(app, id));
    }

    [Fact]
    public async Task a_batch_that_completes_people_issues_each_one_certificate_and_each_effect_once()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new TestApp();
        await WebhookDeliveryTests.SubscribeAsync(app.Admin(), receiver.Url("/hooks"), "enrolment.completed");
        await app.PublishSmallProgrammeAsync(liveSessions: 0);
        var people = new[] { "T-1", "T-2", "T-3" };
        var ids = new List<string>();
        foreach (var person in people)
        {
            ids.Add(await app.EnrolAsync(person, School, "small"));
        }

        var batch = new JsonArray();
        foreach (var person in people)
        {
            batch.Add(ByAccount(person, Completed, ModuleIri("m1", "small")));
            batch.Add(ByAccount(person, Completed, ModuleIri("m2", "small")));
            // After completion: progress still counts, and completes nobody a second time.
            batch.Add(ByAccount(person, Completed, ModuleIri("extra", "small")));
        }

        await IdsAsync(await PostAsync(app.Admin(), batch));
        // The same statements again (same ids) are already stored: nothing changes.
        await IdsAsync(await PostAsync(app.Admin(), batch));
        await app.TickAsync();

        foreach (var id in ids)
        {
            Assert.Equal("completed", await app.StatusOfAsync(id));
            Assert.Equal(1, app.Count("outbox", $"enrolment_id = '{id}' AND kind = 'certificate'"));
            Assert.Equal(1, app.Count("outbox", $"enrolment_id = '{id}' AND kind = 'webhook' AND template = 'enrolment.completed'"));
            Assert.Equal(1, app.Count("outbox", $"enrolment_id = '{id}' AND kind = 'email' AND template = 'completion'"));
            Assert.Equal(1, app.Count("certificates", $"enrolment_id = '{id}' AND status = 'valid'"));
            Assert.Equal(3, ModuleEvents(app, id));
        }

        Assert.Equal(3, receiver.Requests("/hooks").Count);
        Assert.Equal(9, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task single_progress_events_arriving_during_batches_about_the_same_people_are_all_kept()
    {
        await using var app = new TestApp();
        var people = Enumerable.Range(1, 8).Select(i => $"T-{i}").ToArray();
        var ids = new List<string>();
        foreach (var person in people)
        {
            ids.Add(await app.EnrolAsync(person));
        }

        var admin = app.Admin();
        var batches = new[] { "identification", "adaptive-teaching", "visual-impairment" }.Select(module => Task.Run(async () =>
        {
            var batch = new JsonArray(people.Select(p => (JsonNode)ByAccount(p, Completed, ModuleIri(module))).ToArray());
            await IdsAsync(await PostAsync(admin, batch));
        }));
        var singles = people.SelectMany(p => new[] { "speech-language-communication", "assistive-technology" }.Select(module => Task.Run(async () =>
        {
            (await admin.PostAsJsonAsync("/api/v1/progress",
                new { programmeId = TestApp.Programme, schoolUrn = School, externalId = p, moduleId = module, completedAt = app.Clock.GetUtcNow() }))
                .EnsureSuccessStatusCode();
        })));
        await Task.WhenAll(batches.Concat(singles));

        foreach (var id in ids)
        {
            Assert.Equal(5, ModuleEvents(app, id));
            Assert.Equal(1 + 5, Version(app, id));
            foreach (var module in new[] { "identification", "adaptive-teaching", "visual-impairment", "speech-language-communication", "assistive-technology" })
            {
                Assert.NotNull(await ModuleCompletedAtAsync(app, id, module));
            }
        }
    }

    [Fact]
    public async Task decisions_folded_in_memory_are_not_saved_over_a_change_made_since_they_were_read()
    {
        await using var app = new TestApp();
        var id = Guid.Parse(await app.EnrolAsync("T-1"));
        var store = app.Service<IWorkflowStore>();
        var workflow = app.Service<EnrolmentWorkflow>();
        var read = (await store.GetEnrolmentAsync(id, CancellationToken.None))!;
        var fold = workflow.Fold([read], new HashSet<(Guid, string)>(), app.Clock.GetUtcNow());
        Assert.Equal(ApplyStatus.Applied, (await fold.ApplyAsync(id, new ModuleCompleted("identification", app.Clock.GetUtcNow()), CancellationToken.None)).Status);

        // Another writer saves the enrolment between the read and the batch's write.
        Assert.Equal(ApplyStatus.Applied,
            (await workflow.ApplyAsync(id, new ModuleCompleted("adaptive-teaching", app.Clock.GetUtcNow()), CancellationToken.None)).Status);

        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await Assert.ThrowsAsync<ConcurrentUpdateException>(() => fold.SaveAsync(tx));
        }

        Assert.Equal(1, ModuleEvents(app, id.ToString(), "adaptive-teaching"));
        Assert.Equal(0, ModuleEvents(app, id.ToString(), "identification"));
        Assert.Equal(read.Version + 1, Version(app, id.ToString()));
    }
}
