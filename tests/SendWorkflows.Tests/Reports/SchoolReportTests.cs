using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Reports;

public sealed class SchoolReportTests
{
    private const string SchoolA = "100004";
    private const string SchoolB = "100005";

    private static string Report(string urn) => $"/api/v1/schools/{urn}/report";

    internal static async Task<List<JsonElement>> PeopleAsync(HttpClient client, string urn)
    {
        var response = await client.GetAsync(Report(urn));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var report = JsonDocument.Parse(text).RootElement;
        Assert.Equal(urn, report.GetProperty("schoolUrn").GetString());
        return report.GetProperty("people").EnumerateArray().ToList();
    }

    private static async Task<(byte[] Bytes, List<string[]> Rows)> CsvAsync(HttpClient client, string urn, string accept = "text/csv")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Report(urn));
        request.Headers.Accept.ParseAdd(accept);
        var response = await client.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(bytes));
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        using var parser = new CsvParser(new StringReader(Encoding.UTF8.GetString(bytes.AsSpan(3))), new CsvConfiguration(CultureInfo.InvariantCulture));
        var rows = new List<string[]>();
        while (parser.Read())
        {
            rows.Add(parser.Record!);
        }

        return (bytes, rows);
    }

    private static async Task<string> EnrolAsync(TestApp app, string externalId, string given, string family, string school = SchoolA, string programme = TestApp.Programme)
    {
        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", new
        {
            programmeId = programme, schoolUrn = school,
            staff = new { externalId, givenName = given, familyName = family, email = $"{externalId.ToLowerInvariant()}@school.example.org", role = "teaching_assistant" },
        });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task the_json_report_has_one_row_per_person_with_their_progress_deadline_and_next_nudge()
    {
        await using var app = new TestApp();
        var id = await EnrolAsync(app, "T-1", "Siân", "Ó Dálaigh");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null)).EnsureSuccessStatusCode();
        await app.PutSessionAsync("leeds", TestApp.Programme, TimeSpan.FromDays(10));
        (await app.Admin().PostAsJsonAsync("/api/v1/sessions/leeds/bookings", new { enrolmentId = id })).EnsureSuccessStatusCode();
        await EnrolAsync(app, "T-2", "Aled", "Ap Rhys");
        var status = await app.GetEnrolmentAsync(id);

        var people = await PeopleAsync(app.Admin(), SchoolA);

        Assert.Equal(["Ap Rhys", "Ó Dálaigh"], people.Select(p => p.GetProperty("familyName").GetString()));
        var person = people[1];
        Assert.Equal(id, person.GetProperty("enrolmentId").GetString());
        Assert.Equal("T-1", person.GetProperty("externalId").GetString());
        Assert.Equal("Siân", person.GetProperty("givenName").GetString());
        Assert.Equal("t-1@school.example.org", person.GetProperty("email").GetString());
        Assert.Equal("teaching_assistant", person.GetProperty("role").GetString());
        Assert.Equal("in_progress", person.GetProperty("status").GetString());
        Assert.Equal(1, person.GetProperty("modulesDone").GetInt32());
        Assert.Equal(7, person.GetProperty("modulesRequired").GetInt32());
        Assert.Equal(JsonValueKind.Null, person.GetProperty("sessionAttendedAt").ValueKind);
        Assert.Equal(ManualClock.Monday9am.AddDays(10), person.GetProperty("sessionBookedFor").GetDateTimeOffset());
        Assert.Equal(status.GetProperty("deadline").GetDateTimeOffset(), person.GetProperty("deadline").GetDateTimeOffset());
        Assert.Equal(status.GetProperty("nextNudgeAt").GetDateTimeOffset(), person.GetProperty("nextNudgeAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, person.GetProperty("lastNudgeAt").ValueKind);
        Assert.False(person.GetProperty("remindersOff").GetBoolean());
        Assert.Equal(JsonValueKind.Null, person.GetProperty("emailBouncedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, person.GetProperty("behind").ValueKind);
        Assert.Equal(JsonValueKind.Null, person.GetProperty("certificateNumber").ValueKind);
        Assert.Equal(0, people[0].GetProperty("modulesDone").GetInt32());
        Assert.Equal("enrolled", people[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task the_last_nudge_shows_once_a_reminder_has_been_sent()
    {
        await using var app = new TestApp();
        var id = await EnrolAsync(app, "T-1", "Ann", "Lee");
        Assert.Equal(JsonValueKind.Null, Assert.Single(await PeopleAsync(app.Admin(), SchoolA)).GetProperty("lastNudgeAt").ValueKind);

        app.Clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromHours(1));
        await app.TickAsync();
        Assert.Single(app.OutboxFilesFor(id, "not-started"));

        var person = Assert.Single(await PeopleAsync(app.Admin(), SchoolA));
        Assert.Equal(app.Clock.GetUtcNow(), person.GetProperty("lastNudgeAt").GetDateTimeOffset());
        Assert.True(person.GetProperty("nextNudgeAt").GetDateTimeOffset() > app.Clock.GetUtcNow());
        Assert.Equal("not_started", person.GetProperty("behind").GetString());
    }

    [Fact]
    public async Task a_completed_person_shows_their_certificate_number_and_completion()
    {
        await using var app = new TestApp();
        var (id, certificate) = await Certificates.CertificateEndpointTests.CompletedAsync(app, "T-1", SchoolA);

        var person = Assert.Single(await PeopleAsync(app.Admin(), SchoolA));
        Assert.Equal(id, person.GetProperty("enrolmentId").GetString());
        Assert.Equal("completed", person.GetProperty("status").GetString());
        Assert.Equal(certificate.GetProperty("number").GetString(), person.GetProperty("certificateNumber").GetString());
        Assert.Equal("valid", person.GetProperty("certificateStatus").GetString());
        Assert.Equal(ManualClock.Monday9am, person.GetProperty("completedAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, person.GetProperty("nextNudgeAt").ValueKind);

        var (_, rows) = await CsvAsync(app.Admin(), SchoolA);
        var numberColumn = Array.IndexOf(rows[0], "certificateNumber");
        Assert.Equal(certificate.GetProperty("number").GetString(), rows[1][numberColumn]);
    }

    [Fact]
    public async Task the_csv_report_is_utf8_with_a_bom_crlf_a_header_and_the_same_values_as_the_json()
    {
        await using var app = new TestApp();
        var id = await EnrolAsync(app, "T-1", "Siân", "Ó Dálaigh, Jr");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/identification/completion", null)).EnsureSuccessStatusCode();
        await EnrolAsync(app, "T-2", "Aled", "Ap Rhys");

        var (bytes, rows) = await CsvAsync(app.Admin(), SchoolA);

        Assert.Equal([0xEF, 0xBB, 0xBF], bytes[..3]);
        var text = Encoding.UTF8.GetString(bytes.AsSpan(3));
        Assert.Equal(3, text.Split("\r\n").Length - 1);
        Assert.DoesNotContain('\n', text.Replace("\r\n", "", StringComparison.Ordinal));
        Assert.Equal(SendWorkflows.Reports.ReportCsv.Columns, rows[0]);
        Assert.Equal(3, rows.Count);

        var json = await PeopleAsync(app.Admin(), SchoolA);
        for (var i = 0; i < json.Count; i++)
        {
            foreach (var (column, value) in rows[0].Zip(rows[i + 1]))
            {
                var expected = json[i].GetProperty(column);
                Assert.Equal(expected.ValueKind switch
                {
                    JsonValueKind.Null => "",
                    JsonValueKind.String => expected.GetString(),
                    _ => expected.GetRawText(),
                }, value);
            }
        }

        Assert.Equal("Ó Dálaigh, Jr", rows[2][Array.IndexOf(rows[0], "familyName")]);
    }

    [Fact]
    public async Task formulas_in_names_are_stored_as_given_and_neutralised_only_in_the_csv()
    {
        await using var app = new TestApp();
        var hyperlink = "=HYPERLINK(\"http://evil.example\",\"Click\")";
        await EnrolAsync(app, "F-1", hyperlink, "@SUM(A1)");
        await EnrolAsync(app, "-2+3", "+44 7700", "=1+1");
        await EnrolAsync(app, "F-3", "Ann", "Lee-Smith");

        var json = await PeopleAsync(app.Admin(), SchoolA);
        Assert.Contains(json, p => p.GetProperty("givenName").GetString() == hyperlink && p.GetProperty("familyName").GetString() == "@SUM(A1)");
        Assert.Contains(json, p => p.GetProperty("familyName").GetString() == "=1+1" && p.GetProperty("externalId").GetString() == "-2+3");

        var (bytes, rows) = await CsvAsync(app.Admin(), SchoolA);
        var header = rows[0];
        string[] Cells(string column) => rows.Skip(1).Select(r => r[Array.IndexOf(header, column)]).ToArray();
        Assert.Contains("'" + hyperlink, Cells("givenName"));
        Assert.Contains("'@SUM(A1)", Cells("familyName"));
        Assert.Contains("'=1+1", Cells("familyName"));
        Assert.Contains("'+44 7700", Cells("givenName"));
        Assert.Contains("'-2+3", Cells("externalId"));
        Assert.Contains("Lee-Smith", Cells("familyName"));
        Assert.Contains("Ann", Cells("givenName"));
        // Every cell, neutralised or not, is quoted, so no separator inside a value can start a new cell.
        var text = Encoding.UTF8.GetString(bytes.AsSpan(3));
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Click\"\")\"", text, StringComparison.Ordinal);
        Assert.All(text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("\"", line, StringComparison.Ordinal));
        Assert.DoesNotContain(rows.Skip(1).SelectMany(r => r), cell => cell.Length > 0 && "=+-@\t\r".Contains(cell[0], StringComparison.Ordinal));
    }

    [Fact]
    public async Task a_school_sees_only_its_own_people_and_another_schools_report_does_not_exist_for_it()
    {
        await using var app = new TestApp();
        await EnrolAsync(app, "A-1", "Ann", "Lee", SchoolA);
        await EnrolAsync(app, "B-1", "Bob", "Ng", SchoolB);
        var schoolA = await app.ClientWithScopesAsync($"school:{SchoolA}");

        Assert.Equal(["A-1"], (await PeopleAsync(schoolA, SchoolA)).Select(p => p.GetProperty("externalId").GetString()));
        Assert.Equal(["B-1"], (await PeopleAsync(app.Admin(), SchoolB)).Select(p => p.GetProperty("externalId").GetString()));
        await Problem.AssertAsync(await schoolA.GetAsync(Report(SchoolB)), HttpStatusCode.NotFound, "urn");
        using var csv = new HttpRequestMessage(HttpMethod.Get, Report(SchoolB));
        csv.Headers.Accept.ParseAdd("text/csv");
        await Problem.AssertAsync(await schoolA.SendAsync(csv), HttpStatusCode.NotFound, "urn");
        await Problem.AssertAsync(await (await app.ClientWithScopesAsync("lms")).GetAsync(Report(SchoolA)), HttpStatusCode.Forbidden);
        await Problem.AssertAsync(await app.Admin().GetAsync(Report("12345")), HttpStatusCode.BadRequest, "urn");
    }

    [Fact]
    public async Task a_school_with_nobody_enrolled_has_an_empty_report_in_either_format()
    {
        await using var app = new TestApp();
        Assert.Empty(await PeopleAsync(app.Admin(), "EY123456"));
        var (_, rows) = await CsvAsync(app.Admin(), "10012345");
        Assert.Equal(SendWorkflows.Reports.ReportCsv.Columns, Assert.Single(rows));
    }

    [Theory]
    [InlineData(null, "application/json")]
    [InlineData("*/*", "application/json")]
    [InlineData("application/json", "application/json")]
    [InlineData("text/csv", "text/csv")]
    [InlineData("text/csv;q=0.5, application/json", "application/json")]
    [InlineData("application/json;q=0.2, text/csv;q=0.9", "text/csv")]
    [InlineData("text/*", "text/csv")]
    [InlineData("text/html, text/csv;q=0.8", "text/csv")]
    public async Task the_format_follows_the_accept_header(string? accept, string expected)
    {
        await using var app = new TestApp();
        await EnrolAsync(app, "T-1", "Ann", "Lee");
        using var request = new HttpRequestMessage(HttpMethod.Get, Report(SchoolA));
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        var response = await app.Admin().SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task a_caller_that_accepts_neither_json_nor_csv_is_told_which_it_may_have()
    {
        await using var app = new TestApp();
        using var request = new HttpRequestMessage(HttpMethod.Get, Report(SchoolA));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/pdf"));
        await Problem.AssertAsync(await app.Admin().SendAsync(request), HttpStatusCode.NotAcceptable, "Accept");
    }

    [Fact]
    public async Task the_report_names_the_schools_local_authority_once_an_admin_has_set_it()
    {
        await using var app = new TestApp();
        var before = await app.Admin().GetFromJsonAsync<JsonElement>(Report(SchoolA));
        Assert.Equal(JsonValueKind.Null, before.GetProperty("localAuthority").ValueKind);

        (await app.Admin().PutAsJsonAsync($"/api/v1/schools/{SchoolA}", new { localAuthority = "Leeds" })).EnsureSuccessStatusCode();
        var after = await app.Admin().GetFromJsonAsync<JsonElement>(Report(SchoolA));
        Assert.Equal("Leeds", after.GetProperty("localAuthority").GetString());
        Assert.Equal(ManualClock.Monday9am, after.GetProperty("generatedAt").GetDateTimeOffset());
    }
}
