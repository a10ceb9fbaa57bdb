using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Email;

public sealed class TemplatePreviewTests
{
    [Fact]
    public async Task every_template_renders_with_sample_data_and_no_field_left_unfilled()
    {
        await using var app = new TestApp();
        var names = await app.Admin().GetFromJsonAsync<List<string>>("/api/v1/email-templates");
        Assert.Equal(["book-session", "certificate", "completion", "deadline", "missed-session", "not-started", "overdue", "school-digest",
            "session-reminder", "stalled", "welcome"], names);

        foreach (var name in names!)
        {
            var preview = await app.Admin().GetFromJsonAsync<JsonElement>($"/api/v1/email-templates/{name}/preview");
            var subject = preview.GetProperty("subject").GetString()!;
            var text = preview.GetProperty("text").GetString()!;
            var html = preview.GetProperty("html").GetString()!;
            if (name != "school-digest")
            {
                // Emails to one person about their own training.
                Assert.Contains("SEND and inclusion: core training", subject, StringComparison.Ordinal);
                Assert.Contains("Dear Siân,", text, StringComparison.Ordinal);
                Assert.Contains("<p>Dear Siân,</p>", html, StringComparison.Ordinal);
            }

            Assert.Contains("<html lang=\"en\">", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase); // nothing is said only in a picture
            if (SendWorkflows.Workflow.EmailTemplates.IsNonEssential(name))
            {
                // Every reminder says what to do next, by when where it matters, and how to stop them.
                Assert.Contains("What to do next", text, StringComparison.Ordinal);
                Assert.Contains("Stop reminder emails or change your preferences: https://send.example.org/preferences/", text, StringComparison.Ordinal);
                Assert.Contains("<a href=\"https://send.example.org/preferences/", html, StringComparison.Ordinal);
                Assert.Contains("https://learning.example.org/send-inclusion", text, StringComparison.Ordinal);
            }

            foreach (var part in new[] { subject, text, html })
            {
                Assert.DoesNotContain("{{", part, StringComparison.Ordinal);
                Assert.DoesNotContain("  ,", part, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task the_school_digest_previews_its_sample_rows_as_a_list_and_an_accessible_table()
    {
        await using var app = new TestApp();
        var preview = await app.Admin().GetFromJsonAsync<JsonElement>("/api/v1/email-templates/school-digest/preview");
        var text = preview.GetProperty("text").GetString()!;
        var html = preview.GetProperty("html").GetString()!;

        Assert.Equal("SEND and inclusion training at school 100004: 9 people are behind", preview.GetProperty("subject").GetString());
        Assert.Contains("Dear Gráinne Nic Giolla Phádraig,", text, StringComparison.Ordinal);
        Assert.Contains("Nguyễn Thị Hương, Teaching assistant\nWhy: Our emails to them cannot be delivered.", text.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("the other 3 are in the school report", text, StringComparison.Ordinal);
        Assert.Contains("https://send.example.org/api/v1/schools/100004/report", text, StringComparison.Ordinal);

        Assert.Contains("<caption", html, StringComparison.Ordinal);
        Assert.Equal(["Name", "Role", "Why they are behind", "Deadline"],
            System.Text.RegularExpressions.Regex.Matches(html, "<th scope=\"col\"[^>]*>([^<]*)</th>").Select(m => m.Groups[1].Value));
        Assert.Equal(6, html.Split("<th scope=\"row\"").Length - 1);
        Assert.Contains(">José Martínez</th>", html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://send.example.org/api/v1/schools/100004/report\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task one_part_can_be_seen_as_it_is_sent()
    {
        await using var app = new TestApp();
        var html = await app.Admin().GetAsync("/api/v1/email-templates/certificate/preview?part=html");
        Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
        Assert.Contains("href=\"https://send.example.org/certificates/7K3M-9QZ2-X4TB.pdf", await html.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var text = await app.Admin().GetAsync("/api/v1/email-templates/welcome/preview?part=text");
        Assert.Equal("text/plain", text.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task an_unknown_template_or_part_names_what_is_wrong_and_only_admins_may_look()
    {
        await using var app = new TestApp();
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/email-templates/nonesuch/preview"), HttpStatusCode.NotFound, "template");
        await Problem.AssertAsync(await app.Admin().GetAsync("/api/v1/email-templates/welcome/preview?part=pdf"), HttpStatusCode.BadRequest, "part");
        var school = await app.ClientWithScopesAsync("school:100004");
        await Problem.AssertAsync(await school.GetAsync("/api/v1/email-templates"), HttpStatusCode.Forbidden, "Authorization");
        await Problem.AssertAsync(await school.GetAsync("/api/v1/email-templates/welcome/preview"), HttpStatusCode.Forbidden, "Authorization");
        await Problem.AssertAsync(await app.Anonymous().GetAsync("/api/v1/email-templates"), HttpStatusCode.Unauthorized, "Authorization");
    }
}
