using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Certificates;

public sealed class CertificateEndpointTests
{
    /// <summary>Enrols a person on a one-module programme with no live session, completes them, and runs the outbox.</summary>
    internal static async Task<(string Id, JsonElement Certificate)> CompletedAsync(TestApp app, string externalId = "T-1", string school = "100004",
        string given = "Zoë", string family = "Brontë-Ødegaard")
    {
        // The same document again creates no new version.
        var doc = TestApp.SmallProgramme("quick", liveSessions: 0);
        doc["modules"]!.AsArray().RemoveAt(1);
        (await app.Admin().PutAsJsonAsync("/api/v1/programmes/quick", doc)).EnsureSuccessStatusCode();

        var body = new
        {
            programmeId = "quick", schoolUrn = school,
            staff = new { externalId, givenName = given, familyName = family, email = $"{externalId.ToLowerInvariant()}@example.org", role = "teacher" },
        };
        var enrolled = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", body);
        var id = (await enrolled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/m1/completion", null)).EnsureSuccessStatusCode();
        await app.TickAsync();
        return (id, (await app.GetEnrolmentAsync(id)).GetProperty("certificate"));
    }

    /// <summary>The school sends the person again with their name corrected (externalId T-1 on the quick programme).</summary>
    internal static async Task CorrectNameAsync(TestApp app, string given, string family)
    {
        var corrected = new
        {
            programmeId = "quick", schoolUrn = "100004",
            staff = new { externalId = "T-1", givenName = given, familyName = family, email = "t-1@example.org", role = "teacher" },
        };
        (await app.Admin().PostAsJsonAsync("/api/v1/enrolments", corrected)).EnsureSuccessStatusCode();
    }

    private static string PathOf(string url) => new Uri(url).PathAndQuery;

    [Fact]
    public async Task completing_issues_one_certificate_and_emails_a_link_that_downloads_exactly_the_stored_pdf()
    {
        await using var app = new TestApp();
        var (id, certificate) = await CompletedAsync(app);
        var number = certificate.GetProperty("number").GetString()!;

        Assert.Equal("valid", certificate.GetProperty("status").GetString());
        Assert.Equal($"https://send.example.org/verify/{number}", certificate.GetProperty("verifyUrl").GetString());
        Assert.Equal(1, app.Count("certificates"));

        var email = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "certificate")));
        Assert.Contains(number, Eml.Part(email, "text/plain"), StringComparison.Ordinal);
        var emailed = Eml.Part(email, "text/plain").Split('\n').Select(l => l.Trim()).Single(l => l.Contains("/certificates/", StringComparison.Ordinal));

        foreach (var link in new[] { emailed, certificate.GetProperty("downloadUrl").GetString()! })
        {
            var response = await app.Anonymous().GetAsync(PathOf(link));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(app.Text($"SELECT sha256 FROM certificates WHERE number = '{number}'"),
                Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Contains("Zoë Brontë-Ødegaard", await ExternalTool.PdfTextAsync(bytes), StringComparison.Ordinal);
        }

        // More ticks and more reports after completion issue nothing more.
        await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/extra/completion", null);
        await app.TickAsync();
        Assert.Equal(1, app.Count("certificates"));
        Assert.Single(app.OutboxFilesFor(id, "certificate"));
    }

    [Fact]
    public async Task a_tampered_link_is_403_and_an_expired_one_410()
    {
        await using var app = new TestApp();
        var (_, certificate) = await CompletedAsync(app);
        var link = PathOf(certificate.GetProperty("downloadUrl").GetString()!);

        await Problem.AssertAsync(await app.Anonymous().GetAsync(link[..^3] + "AAA"), HttpStatusCode.Forbidden, "sig");
        var laterExpiry = System.Text.RegularExpressions.Regex.Replace(link, @"expires=(\d+)", m => $"expires={long.Parse(m.Groups[1].Value) + 86400}");
        await Problem.AssertAsync(await app.Anonymous().GetAsync(laterExpiry), HttpStatusCode.Forbidden, "sig");
        await Problem.AssertAsync(await app.Anonymous().GetAsync(link.Split('?')[0]), HttpStatusCode.Forbidden, "sig");

        app.Clock.Advance(TimeSpan.FromDays(31));
        await Problem.AssertAsync(await app.Anonymous().GetAsync(link), HttpStatusCode.Gone, "expires");
        var fresh = (await app.GetEnrolmentAsync(app.Text("SELECT enrolment_id FROM certificates")!)).GetProperty("certificate");
        Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().GetAsync(PathOf(fresh.GetProperty("downloadUrl").GetString()!))).StatusCode);
    }

    [Fact]
    public async Task the_verification_page_shows_only_name_programme_date_issuer_and_status()
    {
        await using var app = new TestApp();
        var (_, certificate) = await CompletedAsync(app, "T-77");
        var number = certificate.GetProperty("number").GetString()!;

        var page = await app.Anonymous().GetAsync($"/verify/{number}");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        foreach (var expected in new[] { "<html lang=\"en-GB\">", "<h1>Certificate check</h1>", "This certificate is valid", "Small programme", "Test issuer", number })
        {
            Assert.Contains(expected, html, StringComparison.Ordinal);
        }

        Assert.Contains(System.Text.Encodings.Web.HtmlEncoder.Default.Encode("Zoë Brontë-Ødegaard"), html, StringComparison.Ordinal);
        Assert.DoesNotContain("t-77@example.org", html, StringComparison.Ordinal);
        Assert.DoesNotContain("T-77", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);

        var json = await app.Anonymous().GetFromJsonAsync<JsonElement>($"/api/v1/certificates/{number.ToLowerInvariant()}");
        Assert.Equal("valid", json.GetProperty("status").GetString());
        Assert.Equal("Zoë Brontë-Ødegaard", json.GetProperty("name").GetString());
        Assert.Equal(
            ["completedOn", "issuer", "name", "number", "programme", "revokedAt", "status"],
            json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task a_mistyped_or_unknown_number_is_404()
    {
        await using var app = new TestApp();
        var (_, certificate) = await CompletedAsync(app);
        var number = certificate.GetProperty("number").GetString()!;
        var typo = number[..^1] + (number[^1] == 'A' ? 'B' : 'A');

        await Problem.AssertAsync(await app.Anonymous().GetAsync($"/api/v1/certificates/{typo}"), HttpStatusCode.NotFound, "number");
        await Problem.AssertAsync(await app.Anonymous().GetAsync($"/api/v1/certificates/{SendWorkflows.Certificates.CertificateNumber.New()}"),
            HttpStatusCode.NotFound, "number");
        var page = await app.Anonymous().GetAsync($"/verify/{typo}");
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Contains("please check each character", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var asJson = new HttpRequestMessage(HttpMethod.Get, $"/verify/{typo}") { Headers = { Accept = { new MediaTypeWithQualityHeaderValue("application/json") } } };
        await Problem.AssertAsync(await app.Anonymous().SendAsync(asJson), HttpStatusCode.NotFound, "number");
    }

    [Fact]
    public async Task the_exact_bytes_of_an_issued_certificate_verify_and_altered_bytes_do_not()
    {
        await using var app = new TestApp();
        var (_, certificate) = await CompletedAsync(app);
        var pdf = await app.Anonymous().GetByteArrayAsync(PathOf(certificate.GetProperty("downloadUrl").GetString()!));

        var genuine = await Post(app, pdf);
        Assert.True(genuine.GetProperty("issued").GetBoolean());
        Assert.Equal(certificate.GetProperty("number").GetString(), genuine.GetProperty("certificate").GetProperty("number").GetString());

        pdf[pdf.Length / 2] ^= 0x01;
        var altered = await Post(app, pdf);
        Assert.False(altered.GetProperty("issued").GetBoolean());

        var empty = await app.Anonymous().PostAsync("/api/v1/certificates/verify", new ByteArrayContent([]));
        await Problem.AssertAsync(empty, HttpStatusCode.BadRequest, "body");
    }

    private static async Task<JsonElement> Post(TestApp app, byte[] pdf)
    {
        var content = new ByteArrayContent(pdf) { Headers = { ContentType = new MediaTypeHeaderValue("application/pdf") } };
        var response = await app.Anonymous().PostAsync("/api/v1/certificates/verify", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task a_name_correction_after_issue_supersedes_the_certificate_with_a_new_number()
    {
        await using var app = new TestApp();
        var (id, first) = await CompletedAsync(app, given: "Zoe", family: "Bronte");
        var oldNumber = first.GetProperty("number").GetString()!;
        var oldLink = PathOf(first.GetProperty("downloadUrl").GetString()!);

        await CorrectNameAsync(app, "Zoë", "Brontë-Ødegaard");
        await app.TickAsync();

        var second = (await app.GetEnrolmentAsync(id)).GetProperty("certificate");
        var newNumber = second.GetProperty("number").GetString()!;
        Assert.NotEqual(oldNumber, newNumber);
        Assert.Equal(2, app.Count("certificates"));

        var old = await app.Anonymous().GetFromJsonAsync<JsonElement>($"/api/v1/certificates/{oldNumber}");
        Assert.Equal("superseded", old.GetProperty("status").GetString());
        var oldPage = await app.Anonymous().GetStringAsync($"/verify/{oldNumber}");
        Assert.Contains("has been replaced", oldPage, StringComparison.Ordinal);
        Assert.DoesNotContain(newNumber, oldPage, StringComparison.Ordinal);
        Assert.DoesNotContain(System.Text.Encodings.Web.HtmlEncoder.Default.Encode("Brontë"), oldPage, StringComparison.Ordinal);
        await Problem.AssertAsync(await app.Anonymous().GetAsync(oldLink), HttpStatusCode.Gone, "number");

        var newPdf = await app.Anonymous().GetByteArrayAsync(PathOf(second.GetProperty("downloadUrl").GetString()!));
        Assert.Contains("Zoë Brontë-Ødegaard", await ExternalTool.PdfTextAsync(newPdf), StringComparison.Ordinal);
        var emails = app.OutboxFilesFor(id, "certificate");
        Assert.Equal(2, emails.Length);
        Assert.Contains(emails, f => Eml.Header(File.ReadAllText(f), "Subject").StartsWith("Your corrected certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task an_admin_can_revoke_a_certificate_with_a_reason_and_the_page_says_so()
    {
        await using var app = new TestApp();
        var (id, certificate) = await CompletedAsync(app);
        var number = certificate.GetProperty("number").GetString()!;

        var school = await app.ClientWithScopesAsync("school:100004");
        await Problem.AssertAsync(await school.PostAsJsonAsync($"/api/v1/certificates/{number}/revocation", new { reason = "issued in error" }),
            HttpStatusCode.Forbidden, "Authorization");
        await Problem.AssertAsync(await app.Admin().PostAsJsonAsync($"/api/v1/certificates/{number}/revocation", new { }), HttpStatusCode.BadRequest, "reason");
        await Problem.AssertAsync(await app.Admin().PostAsJsonAsync($"/api/v1/certificates/{CertificateNumberLike()}/revocation", new { reason = "x" }),
            HttpStatusCode.NotFound, "number");

        var revoked = await app.Admin().PostAsJsonAsync($"/api/v1/certificates/{number}/revocation", new { reason = "issued in error" });
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.Equal("revoked", (await revoked.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.Contains("has been revoked", await app.Anonymous().GetStringAsync($"/verify/{number}"), StringComparison.Ordinal);
        await Problem.AssertAsync(await app.Anonymous().GetAsync(PathOf(certificate.GetProperty("downloadUrl").GetString()!)), HttpStatusCode.Gone, "number");
        Assert.Equal(1, app.Count("enrolment_events", "type = 'certificate_revoked'"));
        Assert.Equal(JsonValueKind.Null, (await app.GetEnrolmentAsync(id)).GetProperty("certificate").GetProperty("downloadUrl").ValueKind);
    }

    private static string CertificateNumberLike() => SendWorkflows.Certificates.CertificateNumber.New();

    [Fact]
    public async Task a_school_downloads_its_own_current_certificates_as_one_zip_and_no_other_school_can()
    {
        await using var app = new TestApp();
        var (_, a1) = await CompletedAsync(app, "A-1", "100004", "Siân", "Ó Dálaigh");
        var (_, a2) = await CompletedAsync(app, "A-2", "100004", "Łukasz", "Wróbel");
        await CompletedAsync(app, "B-1", "100005", "Nguyễn Thị", "Hương");

        var schoolA = await app.ClientWithScopesAsync("school:100004");
        var response = await schoolA.GetAsync("/api/v1/schools/100004/certificates.zip");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        using var zip = new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync()));
        var names = zip.Entries.Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, names.Count);
        Assert.Contains($"Wróbel-Łukasz-{a2.GetProperty("number").GetString()}.pdf", names);
        Assert.Contains($"Ó-Dálaigh-Siân-{a1.GetProperty("number").GetString()}.pdf", names);
        foreach (var entry in zip.Entries)
        {
            await using var stream = entry.Open();
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal(1, app.Count("certificates", $"sha256 = '{Convert.ToHexStringLower(SHA256.HashData(copy.ToArray()))}' AND school_urn = '100004'"));
        }

        await Problem.AssertAsync(await schoolA.GetAsync("/api/v1/schools/100005/certificates.zip"), HttpStatusCode.Forbidden, "urn");
        var lms = await app.ClientWithScopesAsync("lms");
        await Problem.AssertAsync(await lms.GetAsync("/api/v1/schools/100004/certificates.zip"), HttpStatusCode.Forbidden, "urn");
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/schools/12/certificates.zip"), HttpStatusCode.BadRequest, "urn");
        Assert.Equal(HttpStatusCode.OK, (await app.Admin().GetAsync("/api/v1/schools/100005/certificates.zip")).StatusCode);
    }

    [Fact]
    public async Task the_certificate_survives_a_restart_and_its_links_keep_working()
    {
        var root = Directory.CreateTempSubdirectory("sendworkflows-cert-restart-").FullName;
        var clock = new ManualClock();
        string link;
        await using (var before = new TestApp(root, clock))
        {
            var (_, certificate) = await CompletedAsync(before);
            link = PathOf(certificate.GetProperty("downloadUrl").GetString()!);
        }

        await using (var after = new TestApp(root, clock))
        {
            Assert.Equal(HttpStatusCode.OK, (await after.Anonymous().GetAsync(link)).StatusCode);
        }
    }
}
