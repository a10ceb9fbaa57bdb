using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>The README's walk-through, step by step over HTTP, ending in completed with three emails and a certificate.</summary>
public sealed class WalkthroughTests
{
    [Fact]
    public async Task a_person_goes_from_enrolment_through_modules_and_a_live_session_to_completed_with_emails_and_a_certificate()
    {
        await using var app = new TestApp();
        var admin = app.Admin();

        var programme = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/programmes/{TestApp.Programme}");
        var modules = programme.GetProperty("definition").GetProperty("modules").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
        Assert.Equal(7, modules.Count);

        var enrol = await admin.PostAsJsonAsync("/api/v1/enrolments", new
        {
            programmeId = TestApp.Programme, schoolUrn = "100004",
            staff = new { externalId = "T-0042", givenName = "Siân", familyName = "Ó Dálaigh", email = "sian@school.example.org", role = "teacher" },
        });
        Assert.Equal(HttpStatusCode.Created, enrol.StatusCode);
        var enrolment = await enrol.Content.ReadFromJsonAsync<JsonElement>();
        var id = enrolment.GetProperty("id").GetString()!;
        Assert.Equal($"https://send.example.org/api/v1/enrolments/{id}", enrolment.GetProperty("statusUrl").GetString());
        Assert.Equal(enrol.Headers.Location?.ToString(), enrolment.GetProperty("statusUrl").GetString());
        Assert.Equal("enrolled", enrolment.GetProperty("status").GetString());

        foreach (var module in modules)
        {
            var done = await admin.PostAsJsonAsync($"/api/v1/enrolments/{id}/modules/{module}/completion",
                new { completedAt = app.Clock.GetUtcNow() });
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            app.Clock.Advance(TimeSpan.FromHours(1));
        }

        Assert.Equal("awaiting_live_session", await app.StatusOfAsync(id));

        await app.PutSessionAsync("leeds-2026-12-01", TestApp.Programme, TimeSpan.FromDays(2));
        var booking = await admin.PostAsJsonAsync("/api/v1/sessions/leeds-2026-12-01/bookings", new { enrolmentId = id });
        Assert.Equal(HttpStatusCode.Created, booking.StatusCode);

        app.Clock.Advance(TimeSpan.FromDays(2) + TimeSpan.FromHours(2));
        var register = await admin.PostAsJsonAsync("/api/v1/sessions/leeds-2026-12-01/attendance",
            new { attendees = new[] { new { enrolmentId = id, attended = true } } });
        Assert.Equal(HttpStatusCode.OK, register.StatusCode);

        var final = await app.GetEnrolmentAsync(id);
        Assert.Equal("completed", final.GetProperty("status").GetString());
        Assert.All(final.GetProperty("modules").EnumerateArray(), m => Assert.Equal(JsonValueKind.String, m.GetProperty("completedAt").ValueKind));
        Assert.Equal("attended", final.GetProperty("sessions")[0].GetProperty("status").GetString());

        var tick = await app.TickAsync();
        Assert.Equal(4, tick.GetProperty("effectsSent").GetInt32()); // welcome, completion, certificate, its email

        var welcome = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "welcome")));
        var completion = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "completion")));
        var certificateEmail = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "certificate")));
        Assert.Equal(3, app.OutboxFiles().Length);

        var certificate = (await app.GetEnrolmentAsync(id)).GetProperty("certificate");
        var link = Eml.Part(certificateEmail, "text/plain").Split('\n').Select(l => l.Trim()).Single(l => l.Contains("/certificates/", StringComparison.Ordinal));
        Assert.StartsWith($"https://send.example.org/certificates/{certificate.GetProperty("number").GetString()}.pdf?expires=", link, StringComparison.Ordinal);
        var pdf = await app.Anonymous().GetAsync(new Uri(link).PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, pdf.StatusCode);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);

        Assert.Equal("sian@school.example.org", Eml.To(welcome).Address);
        Assert.Equal("Siân Ó Dálaigh", Eml.To(welcome).DisplayName);
        Assert.Contains("Dear Siân,", Eml.Part(welcome, "text/plain"), StringComparison.Ordinal);
        Assert.Contains("multipart/alternative", Eml.Header(welcome, "Content-Type"), StringComparison.Ordinal);
        Assert.Contains("<p>Dear Siân,</p>", Eml.Part(welcome, "text/html"), StringComparison.Ordinal);
        Assert.Equal(id, Eml.Header(completion, "X-SendWorkflows-Enrolment"));
        Assert.Equal("You have completed SEND and inclusion: core training", Eml.Header(completion, "Subject"));

        // A second pass finds nothing more to send.
        Assert.Equal(0, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());
        Assert.Equal(3, app.OutboxFiles().Length);
    }

    [Fact]
    public async Task health_and_the_openapi_document_are_served_without_a_key()
    {
        await using var app = new TestApp();
        var anonymous = app.Anonymous();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        var openApi = await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = openApi.GetProperty("paths");
        foreach (var path in new[]
                 {
                     "/api/v1/clients", "/api/v1/programmes/{programmeId}", "/api/v1/enrolments", "/api/v1/enrolments/batch",
                     "/api/v1/enrolments/{id}", "/api/v1/enrolments/{id}/modules/{moduleId}/completion", "/api/v1/progress",
                     "/api/v1/sessions/{sessionId}", "/api/v1/sessions/{sessionId}/bookings", "/api/v1/sessions/{sessionId}/attendance",
                     "/api/v1/enrolments/{id}/withdrawal", "/api/v1/enrolments/{id}/reinstatement", "/api/v1/enrolments/{id}/deadline-extension", "/tick",
                     "/api/v1/schools/{urn}/report", "/api/v1/reports/summary", "/api/v1/schools/{urn}",
                 })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"OpenAPI document lacks {path}");
        }
    }
}
