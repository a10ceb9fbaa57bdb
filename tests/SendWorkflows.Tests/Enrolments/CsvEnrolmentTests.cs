using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Enrolments;

/// <summary>Enrolment batches as school systems export them: text/csv, through the same validation and enrolment as JSON.</summary>
public sealed class CsvEnrolmentTests
{
    private const string Header = "programmeId,schoolUrn,externalId,givenName,familyName,email,role";
    private static readonly byte[] Bom = [0xEF, 0xBB, 0xBF];

    internal static Task<HttpResponseMessage> PostCsvAsync(HttpClient client, string csv, bool bom = false, string contentType = "text/csv") =>
        PostCsvAsync(client, bom ? [.. Bom, .. Encoding.UTF8.GetBytes(csv)] : Encoding.UTF8.GetBytes(csv), contentType);

    internal static Task<HttpResponseMessage> PostCsvAsync(HttpClient client, byte[] bytes, string contentType = "text/csv")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return client.PostAsync("/api/v1/enrolments/batch", content);
    }

    private static async Task<List<JsonElement>> ResultsAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("results").EnumerateArray().ToList();
    }

    private static void AssertRowProblem(JsonElement row, int status, string field, int? line = null)
    {
        Assert.Equal(status, row.GetProperty("status").GetInt32());
        Assert.Equal(JsonValueKind.Null, row.GetProperty("id").ValueKind);
        var problem = row.GetProperty("problem");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"row problem should name {field}: {problem}");
        Assert.Equal(row.GetProperty("index").GetInt32(), problem.GetProperty("index").GetInt32());
        if (line is not null)
        {
            Assert.Equal(line, problem.GetProperty("line").GetInt32());
        }
    }

    [Fact]
    public async Task an_mis_export_with_a_bom_crlf_quoted_commas_and_trailing_blank_lines_enrols_everyone_as_written()
    {
        await using var app = new TestApp();
        var csv = Header + "\r\n" +
                  "send-inclusion-core,100004,T-1,Siân,\"Ó Dálaigh, Jr\",sian@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-2,\"Mary \"\"Molly\"\"\",O'Brien,molly@school.example.org,teaching_assistant\r\n" +
                  "send-inclusion-core,100004,T-3,Anne-Marie,\"Smith; Jones\",anne@school.example.org,leader\r\n" +
                  "\r\n,,,,,,\r\n\r\n";
        var results = await ResultsAsync(await PostCsvAsync(app.Admin(), csv, bom: true));

        Assert.Equal([201, 201, 201], results.Select(r => r.GetProperty("status").GetInt32()));
        var first = await app.GetEnrolmentAsync(results[0].GetProperty("id").GetString()!);
        Assert.Equal("Siân", first.GetProperty("staff").GetProperty("givenName").GetString());
        Assert.Equal("Ó Dálaigh, Jr", first.GetProperty("staff").GetProperty("familyName").GetString());
        Assert.Equal("100004", first.GetProperty("schoolUrn").GetString());
        var second = await app.GetEnrolmentAsync(results[1].GetProperty("id").GetString()!);
        Assert.Equal("Mary \"Molly\"", second.GetProperty("staff").GetProperty("givenName").GetString());
        Assert.Equal("teaching_assistant", second.GetProperty("staff").GetProperty("role").GetString());
        Assert.Equal(3, app.Count("enrolments"));
        Assert.Equal(3, app.Count("outbox", "template = 'welcome'"));
    }

    [Fact]
    public async Task lf_line_endings_and_no_bom_read_the_same()
    {
        await using var app = new TestApp();
        var csv = Header + "\n" + "send-inclusion-core,100004,T-1,Ann,\"Lee, Jr\",ann@school.example.org,teacher\n\n";
        var results = await ResultsAsync(await PostCsvAsync(app.Admin(), csv));
        Assert.Equal(201, Assert.Single(results).GetProperty("status").GetInt32());
        Assert.Equal("Lee, Jr", (await app.GetEnrolmentAsync(results[0].GetProperty("id").GetString()!)).GetProperty("staff").GetProperty("familyName").GetString());
    }

    [Theory]
    [InlineData("programmeId,schoolUrn,externalId,givenName,familyName,role", "header.email")]
    [InlineData("programmeId,schoolUrn,externalId,givenName,familyName,e-mail,role", "header.email")]
    [InlineData("send-inclusion-core,100004,T-1,Ann,Lee,ann@school.example.org,teacher", "header.programmeId")]
    [InlineData("programmeId,schoolUrn,externalId,givenName,familyName,email,role,email", "header.email")]
    public async Task a_header_without_each_column_exactly_once_is_refused_naming_the_column_and_nothing_is_stored(string header, string field)
    {
        await using var app = new TestApp();
        var csv = header + "\r\nsend-inclusion-core,100004,T-9,Ann,Lee,ann@school.example.org,teacher\r\n";
        await Problem.AssertAsync(await PostCsvAsync(app.Admin(), csv, bom: true), HttpStatusCode.BadRequest, field);
        Assert.Equal(0, app.Count("enrolments"));
        Assert.Equal(0, app.Count("outbox"));
    }

    [Fact]
    public async Task columns_may_come_in_any_order_in_any_case_and_other_columns_are_ignored()
    {
        await using var app = new TestApp();
        var csv = " Email ,ROLE,notes,familyName,givenName,externalId,schoolUrn,programmeId,\r\n" +
                  "ann@school.example.org,teacher,=cmd|' /C calc'!A0,Lee,Ann,T-1,100004,send-inclusion-core,\r\n";
        var results = await ResultsAsync(await PostCsvAsync(app.Admin(), csv));
        var enrolment = await app.GetEnrolmentAsync(Assert.Single(results).GetProperty("id").GetString()!);
        Assert.Equal("ann@school.example.org", enrolment.GetProperty("staff").GetProperty("email").GetString());
        Assert.Equal("Lee", enrolment.GetProperty("staff").GetProperty("familyName").GetString());
        Assert.DoesNotContain("calc", await (await app.Admin().GetAsync($"/api/v1/enrolments/{enrolment.GetProperty("id").GetString()}")).Content.ReadAsStringAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task early_years_urns_and_college_ukprns_are_accepted_and_a_bad_school_identifier_fails_only_its_row_in_input_order()
    {
        await using var app = new TestApp();
        var csv = Header + "\r\n" +
                  "send-inclusion-core,EY123456,N-1,Ann,Lee,ann@nursery.example.org,early_years_practitioner\r\n" +
                  "send-inclusion-core,12345,X-1,Bad,Urn,bad@school.example.org,teacher\r\n" +
                  "\r\n" +
                  "send-inclusion-core,10012345,C-1,Cal,Ng,cal@college.example.org,lecturer\r\n" +
                  "send-inclusion-core,ey123456,X-2,Lower,Case,lower@nursery.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-1,Tom,Hill,tom@school.example.org,teacher\r\n";
        var results = await ResultsAsync(await PostCsvAsync(app.Admin(), csv));

        Assert.Equal(Enumerable.Range(0, 5), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(201, results[0].GetProperty("status").GetInt32());
        AssertRowProblem(results[1], 400, "schoolUrn", line: 3);
        Assert.StartsWith("Row 1: ", results[1].GetProperty("problem").GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(201, results[2].GetProperty("status").GetInt32());
        AssertRowProblem(results[3], 400, "schoolUrn", line: 6);
        Assert.Equal(201, results[4].GetProperty("status").GetInt32());
        Assert.Equal(1, app.Count("enrolments", "school_urn = 'EY123456'"));
        Assert.Equal(1, app.Count("enrolments", "school_urn = '10012345'"));
        Assert.Equal(3, app.Count("enrolments"));
    }

    [Fact]
    public async Task rows_that_cannot_be_read_fail_alone_and_name_their_line()
    {
        await using var app = new TestApp();
        var csv = Header + "\r\n" +
                  "send-inclusion-core,100004,T-1,Ann,O\"Brien,ann@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-2,Ann,Lee, Jr,ann2@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-3,Ann,Lee\r\n" +
                  "send-inclusion-core,100004,T-4,Ann,Lee,ann4@school.example.org,Teacher\r\n" +
                  "send-inclusion-core,100004,T-5,Ann,Lee,ann5@school.example.org,teacher,,\r\n" +
                  "send-inclusion-core,100004,T-5,Ann,Lee,ann5@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-6,\"Ann\r\nMarie\",Lee,ann6@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-7,Ann,Lee,ann7@school.example.org,teacher\r\n" +
                  "send-inclusion-core,100004,T-8,Ann,Lee,ann8@school.example.org,support staff\r\n";
        var results = await ResultsAsync(await PostCsvAsync(app.Admin(), csv));

        Assert.Equal(9, results.Count);
        AssertRowProblem(results[0], 400, "row", line: 2);
        AssertRowProblem(results[1], 400, "row", line: 3);
        AssertRowProblem(results[2], 400, "staff.email", line: 4);
        AssertRowProblem(results[2], 400, "staff.role");
        AssertRowProblem(results[3], 400, "staff.role", line: 5);
        Assert.Equal(201, results[4].GetProperty("status").GetInt32());
        AssertRowProblem(results[5], 400, "staff.externalId", line: 7);
        AssertRowProblem(results[6], 400, "staff.givenName", line: 8); // a line break inside a name
        Assert.Equal(201, results[7].GetProperty("status").GetInt32());
        AssertRowProblem(results[8], 400, "staff.role", line: 11);
        Assert.Equal(2, app.Count("enrolments"));
    }

    [Fact]
    public async Task ten_thousand_rows_of_garbage_get_a_problem_each_and_store_nothing()
    {
        await using var app = new TestApp();
        var random = new Random(20261123);
        const string alphabet = "abcXYZ019 ,;\"'=+-@|\\/\t\u00e9\u00df\u4e2d\U0001F600";
        var csv = new StringBuilder(Header).Append("\r\n");
        var lines = 0;
        while (lines < 10_000)
        {
            var line = new string(Enumerable.Range(0, random.Next(1, 80)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            if (line.Contains('"', StringComparison.Ordinal) && line.Count(c => c == '"') % 2 == 1)
            {
                line += "\""; // an open quote would swallow the rest of the file into one value
            }

            if (string.IsNullOrWhiteSpace(line.Replace(",", "", StringComparison.Ordinal).Replace(";", "", StringComparison.Ordinal)))
            {
                continue;
            }

            csv.Append(line).Append("\r\n");
            lines++;
        }

        var response = await PostCsvAsync(app.Admin(), csv.ToString(), bom: true);
        var results = await ResultsAsync(response);
        Assert.InRange(results.Count, 9_000, 10_000); // quoted line breaks may join a few lines into one row
        Assert.All(results, r => Assert.InRange(r.GetProperty("status").GetInt32(), 400, 499));
        Assert.Equal(Enumerable.Range(0, results.Count), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(0, app.Count("enrolments"));
        Assert.Equal(0, app.Count("outbox"));
    }

#if !POSTGRES_STORE // The reader alone, no store: run once, in the SQLite suite (which may see the reader's internals).
    [Fact]
    public void any_text_at_all_reads_as_rows_or_as_one_problem_with_the_file_and_never_throws()
    {
        var random = new Random(42);
        string[] pieces = ["\"", "\"\"", ",", "\r\n", "\n", "\r", " ", "\uFEFF", "=", "a", "\u00e9", "\U0001F600", "\t", ";", Header, "100004", "EY123456"];
        for (var i = 0; i < 3_000; i++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(0, 60)).Select(_ => pieces[random.Next(pieces.Length)]));
            var (rows, problem) = SendWorkflows.Enrolments.EnrolmentCsv.Read(Encoding.UTF8.GetBytes(text), 100);
            Assert.True((rows is null) != (problem is null), text);
            Assert.All(rows ?? [], r => Assert.True((r.Body is null) != (r.Problem is null) && r.Line >= 1, text));
        }
    }
#endif

    [Fact]
    public async Task bytes_that_are_not_utf8_are_refused_whole_rather_than_stored_garbled()
    {
        await using var app = new TestApp();
        var latin1 = Encoding.Latin1.GetBytes(Header + "\r\nsend-inclusion-core,100004,T-1,Siân,Lee,sian@school.example.org,teacher\r\n");
        await Problem.AssertAsync(await PostCsvAsync(app.Admin(), latin1), HttpStatusCode.BadRequest, "body");

        var random = new byte[50_000];
        new Random(7).NextBytes(random);
        await Problem.AssertAsync(await PostCsvAsync(app.Admin(), [.. Encoding.UTF8.GetBytes(Header + "\r\n"), .. random]), HttpStatusCode.BadRequest, "body");

        var utf16 = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes(Header + "\r\n")).ToArray();
        await Problem.AssertAsync(await PostCsvAsync(app.Admin(), utf16), HttpStatusCode.BadRequest, "body");

        var declared = await PostCsvAsync(app.Admin(), Header + "\r\nsend-inclusion-core,100004,T-1,Ann,Lee,ann@school.example.org,teacher\r\n",
            contentType: "text/csv; charset=windows-1252");
        await Problem.AssertAsync(declared, HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Equal(0, app.Count("enrolments"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n\r\n")]
    [InlineData(Header + "\r\n")]
    [InlineData(Header + "\r\n,,,,,,\r\n\r\n")]
    public async Task a_file_with_no_rows_is_refused(string csv)
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await PostCsvAsync(app.Admin(), csv, bom: true), HttpStatusCode.BadRequest, "body");
    }

    [Fact]
    public async Task more_rows_than_a_batch_may_hold_are_refused_whole()
    {
        await using var app = new TestApp();
        var csv = new StringBuilder(Header).Append("\r\n");
        for (var i = 0; i <= SendWorkflows.Enrolments.EnrolmentEndpoints.MaxBatchRows; i++)
        {
            csv.Append("send-inclusion-core,100004,T-").Append(i).Append(",A,B,a").Append(i).Append("@s.example.org,teacher\r\n");
        }

        var response = await PostCsvAsync(app.Admin(), csv.ToString());
        var problem = await Problem.AssertAsync(response, HttpStatusCode.BadRequest, "body");
        Assert.Contains("100000", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, app.Count("enrolments"));
    }

    [Fact]
    public async Task a_csv_batch_answers_exactly_as_the_same_batch_in_json()
    {
        var people = new (string Programme, string School, string ExternalId, string Given, string Family, string Email, string Role)[]
        {
            (TestApp.Programme, "100004", "T-1", "Ann", "Lee", "ann@school.example.org", "teacher"),
            (TestApp.Programme, "100004", "T-2", "Bo", "Ng", "not-an-email", "teacher"),
            (TestApp.Programme, "EY123456", "T-3", "Cy", "Ox", "cy@nursery.example.org", "early_years_practitioner"),
            (TestApp.Programme, "100004", "T-1", "Ann", "Lee", "ann@school.example.org", "teacher"),
            ("no-such-programme", "100004", "T-4", "Di", "Po", "di@school.example.org", "teacher"),
            (TestApp.Programme, "100004", "T-5", "Ed", "Qu", "ed@school.example.org", "head"),
            (TestApp.Programme, "1234567", "T-6", "Fa", "Ra", "fa@school.example.org", "teacher"),
            (TestApp.Programme, "100005", "T-7", "Gu", "Sa", "gu@school.example.org", "teacher"),
            (TestApp.Programme, "100004", "T-8", "", "Ta", "", "lecturer"),
            (TestApp.Programme, "100004", "T-9", "=HYPERLINK(\"http://evil.example\",\"x\")", "Ua", "h@school.example.org", "support_staff"),
        };

        await using var jsonApp = new TestApp();
        var json = people.Select(p => new
        {
            programmeId = p.Programme, schoolUrn = p.School,
            staff = new { externalId = p.ExternalId, givenName = p.Given, familyName = p.Family, email = p.Email, role = p.Role },
        });
        var schoolKey = "school:100004";
        var fromJson = await (await (await jsonApp.ClientWithScopesAsync(schoolKey)).PostAsJsonAsync("/api/v1/enrolments/batch", json))
            .Content.ReadAsStringAsync();

        await using var csvApp = new TestApp();
        var csv = Header + "\r\n" + string.Join("\r\n", people.Select(p =>
            string.Join(',', new[] { p.Programme, p.School, p.ExternalId, p.Given, p.Family, p.Email, p.Role }.Select(Quote)))) + "\r\n";
        var fromCsv = await (await PostCsvAsync(await csvApp.ClientWithScopesAsync(schoolKey), csv, bom: true)).Content.ReadAsStringAsync();

        Assert.Equal(Comparable(fromJson), Comparable(fromCsv));
        Assert.Equal(jsonApp.Count("enrolments"), csvApp.Count("enrolments"));
        Assert.Equal(2, csvApp.Count("enrolments")); // T-1 and T-9: the school's key may not enrol at EY123456
        Assert.Equal(1, csvApp.Count("enrolments", $"{TestStore.JsonText("state", "staff", "givenName")} = '=HYPERLINK(\"http://evil.example\",\"x\")'"));
    }

    private static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
        ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\""
        : value;

    /// <summary>The batch answer without what must differ between two stores: enrolment ids, their links, and a CSV row's file line.</summary>
    private static string Comparable(string response)
    {
        var root = JsonNode.Parse(response)!;
        foreach (var row in root["results"]!.AsArray())
        {
            Assert.NotNull(row);
            var hasId = row["id"] is not null;
            Assert.Equal(hasId, row["statusUrl"] is not null);
            row["id"] = hasId ? "id" : null;
            row["statusUrl"] = hasId ? "statusUrl" : null;
            (row["problem"] as JsonObject)?.Remove("line");
        }

        return root.ToJsonString();
    }

    [Fact]
    public async Task other_media_types_are_refused_naming_both_that_are_accepted()
    {
        await using var app = new TestApp();
        var response = await PostCsvAsync(app.Admin(), Header + "\r\n", contentType: "application/vnd.ms-excel");
        var problem = await Problem.AssertAsync(response, HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Contains("text/csv", problem.GetProperty("errors").GetProperty("Content-Type")[0].GetString(), StringComparison.Ordinal);
        Assert.Contains("application/json", problem.GetProperty("errors").GetProperty("Content-Type")[0].GetString(), StringComparison.Ordinal);
    }
}
