using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Programmes;

public sealed class ProgrammeEndpointTests
{
    [Fact]
    public async Task the_bundled_send_and_inclusion_programme_is_there_on_first_start()
    {
        await using var app = new TestApp();
        var programme = await app.Admin().GetFromJsonAsync<JsonElement>($"/api/v1/programmes/{TestApp.Programme}");
        Assert.Equal(1, programme.GetProperty("version").GetInt32());
        var definition = programme.GetProperty("definition");
        Assert.Equal(1, definition.GetProperty("liveSessionsRequired").GetInt32());
        Assert.Equal("P182D", definition.GetProperty("completionWindow").GetString());
        var titles = definition.GetProperty("modules").EnumerateArray().Select(m => m.GetProperty("title").GetString()).ToList();
        Assert.Contains("Early identification of need", titles);
        Assert.Contains("Working effectively with parents and carers", titles);
    }

    [Fact]
    public async Task putting_the_same_document_again_creates_no_new_version_and_a_change_does()
    {
        await using var app = new TestApp();
        var first = await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", TestApp.SmallProgramme());
        var same = await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", TestApp.SmallProgramme());
        var changed = TestApp.SmallProgramme();
        changed["title"] = "Small programme, revised";
        var next = await app.Admin().PutAsJsonAsync("/api/v1/programmes/small", changed);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.Equal(HttpStatusCode.Created, next.StatusCode);
        var current = await app.Admin().GetFromJsonAsync<JsonElement>("/api/v1/programmes/small");
        Assert.Equal(2, current.GetProperty("version").GetInt32());
        Assert.Equal("Small programme, revised", current.GetProperty("definition").GetProperty("title").GetString());
    }

    public static TheoryData<string, string> BadDocuments()
    {
        JsonObject With(Action<JsonObject> change)
        {
            var doc = TestApp.SmallProgramme();
            change(doc);
            return doc;
        }

        return new TheoryData<string, string>
        {
            { With(d => d["completionWindow"] = "P6M").ToJsonString(), "completionWindow" },
            { With(d => d["completionWindow"] = "six months").ToJsonString(), "completionWindow" },
            { With(d => d.Remove("completionWindow")).ToJsonString(), "completionWindow" },
            { With(d => d.Remove("title")).ToJsonString(), "title" },
            { With(d => d["modules"] = new JsonArray()).ToJsonString(), "modules" },
            { With(d => d["modules"]![1]!["id"] = "m1").ToJsonString(), "modules[1].id" },
            { With(d => d["modules"]![0]!["cpdMinutes"] = -5).ToJsonString(), "modules[0].cpdMinutes" },
            { With(d => d["modules"]![0]!["cpdMinutes"] = "thirty").ToJsonString(), "modules[0].cpdMinutes" },
            { With(d => d["id"] = "other").ToJsonString(), "id" },
            { With(d => d["nudges"] = new JsonObject { ["stalledAftr"] = "P14D" }).ToJsonString(), "nudges.stalledAftr" },
            { With(d => d["nudges"] = new JsonObject { ["stalledAfter"] = "P0D" }).ToJsonString(), "nudges.stalledAfter" },
            { With(d => d["nudges"] = new JsonObject { ["deadlineReminders"] = new JsonArray("P14D", "soon") }).ToJsonString(), "nudges.deadlineReminders[1]" },
            { With(d => d["nudges"] = new JsonObject { ["quietHours"] = new JsonObject { ["timeZone"] = "Mars/Olympus", ["start"] = "18:00", ["end"] = "08:00" } }).ToJsonString(), "nudges.quietHours.timeZone" },
            { With(d => d["nudges"] = new JsonObject { ["quietHours"] = new JsonObject { ["timeZone"] = "Europe/London", ["start"] = "6pm", ["end"] = "08:00" } }).ToJsonString(), "nudges.quietHours.start" },
            { With(d => d["certificate"] = new JsonObject { ["linkValidity"] = "forever" }).ToJsonString(), "certificate.linkValidity" },
            { With(d => d["modules"]![0]!["activityIds"] = new JsonArray("not an iri")).ToJsonString(), "modules[0].activityIds[0]" },
            { With(d => d["liveSessionsRequired"] = 99).ToJsonString(), "liveSessionsRequired" },
            // Reminder offsets that are negative or absurd for the programme are mistakes, named where they are.
            { With(d => d["nudges"] = new JsonObject { ["notStartedAfter"] = "-P7D" }).ToJsonString(), "nudges.notStartedAfter" },
            { With(d => d["nudges"] = new JsonObject { ["repeatEvery"] = "P99999D" }).ToJsonString(), "nudges.repeatEvery" },
            { With(d => d["nudges"] = new JsonObject { ["stalledAfter"] = "P30D" }).ToJsonString(), "nudges.stalledAfter" },
            { With(d => d["nudges"] = new JsonObject { ["deadlineReminders"] = new JsonArray("P3D", "P45D") }).ToJsonString(), "nudges.deadlineReminders[1]" },
            { With(d => d["nudges"] = new JsonObject { ["deadlineReminders"] = new JsonArray("P3D", "PT72H") }).ToJsonString(), "nudges.deadlineReminders[1]" },
            { With(d => d["nudges"] = new JsonObject { ["sessionReminderBefore"] = "P90D" }).ToJsonString(), "nudges.sessionReminderBefore" },
            { With(d => d["nudges"] = new JsonObject { ["minGap"] = "P100D" }).ToJsonString(), "nudges.minGap" },
            { With(d => d["nudges"] = new JsonObject { ["maxRepeats"] = 3 }).ToJsonString(), "nudges.repeatEvery" },
            { With(d => d["nudges"] = new JsonObject { ["maxRepeats"] = 1000, ["repeatEvery"] = "P1D" }).ToJsonString(), "nudges.maxRepeats" },
            { With(d => d["nudges"] = new JsonObject { ["pauses"] = new JsonArray(new JsonObject { ["from"] = "2026-12-21", ["to"] = "2026-12-01", ["name"] = "Christmas" }) }).ToJsonString(), "nudges.pauses[0].to" },
            { With(d => d["nudges"] = new JsonObject { ["pauses"] = new JsonArray(new JsonObject { ["from"] = "21/12/2026", ["to"] = "2027-01-01", ["name"] = "Christmas" }) }).ToJsonString(), "nudges.pauses[0].from" },
            { With(d => d["nudges"] = new JsonObject { ["pauses"] = new JsonArray(new JsonObject { ["from"] = "2026-12-21", ["to"] = "2027-01-01" }) }).ToJsonString(), "nudges.pauses[0].name" },
            { With(d => d["learningUrl"] = "javascript:alert(1)").ToJsonString(), "learningUrl" },
            { With(d => d["bookingUrl"] = "http://booking.example.org").ToJsonString(), "bookingUrl" },
            { "{\"title\": ", "body" },
        };
    }

    [Theory]
    [MemberData(nameof(BadDocuments))]
    public async Task an_invalid_programme_is_refused_naming_the_field_and_stores_no_version(string document, string field)
    {
        await using var app = new TestApp();
        var response = await app.Admin().PutAsync("/api/v1/programmes/small", new StringContent(document, Encoding.UTF8, "application/json"));
        await Problem.AssertAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(0, app.Count("programmes", "id = 'small'"));
    }

    [Fact]
    public async Task a_programme_with_reminders_pauses_and_links_is_stored_as_given()
    {
        await using var app = new TestApp();
        var doc = TestApp.SmallProgramme();
        doc["learningUrl"] = "https://learning.example.org/send";
        doc["nudges"] = new JsonObject
        {
            ["notStartedAfter"] = "P7D", ["deadlineReminders"] = new JsonArray("P3D", "P14D"),
            ["pauses"] = new JsonArray(new JsonObject { ["from"] = "2026-12-21", ["to"] = "2027-01-01", ["name"] = "Christmas holidays" }),
        };
        (await app.Admin().PutAsync("/api/v1/programmes/small", new StringContent(doc.ToJsonString(), Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var stored = await app.Admin().GetStringAsync("/api/v1/programmes/small");
        Assert.Contains("\"learningUrl\":\"https://learning.example.org/send\"", stored, StringComparison.Ordinal);
        Assert.Contains("Christmas holidays", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task an_unknown_programme_is_404()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/programmes/nope"), HttpStatusCode.NotFound, "programmeId");
    }
}
