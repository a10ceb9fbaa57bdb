using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;

namespace SendWorkflows.Email;

/// <summary>Every email template rendered with sample data, so wording and layout can be reviewed before anyone receives them (admin).</summary>
public static class TemplatePreviewEndpoints
{
    public sealed record TemplatePreview(string Template, string Subject, string Text, string Html);

    /// <summary>Sample values for every field the templates use; names chosen to show accents render.</summary>
    public static readonly IReadOnlyDictionary<string, string> SampleModel = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["givenName"] = "Siân",
        ["familyName"] = "Ó Dálaigh",
        ["programmeTitle"] = "SEND and inclusion: core training",
        ["issuer"] = "SEND and Inclusion Training Programme",
        ["deadline"] = "23 May 2027",
        ["completedOn"] = "1 December 2026",
        ["enrolmentId"] = "01a2038d-5a8c-74bd-bc71-f819f0c82105",
        ["number"] = "7K3M-9QZ2-X4TB",
        ["downloadUrl"] = "https://send.example.org/certificates/7K3M-9QZ2-X4TB.pdf?expires=1798761600&sig=sample",
        ["verifyUrl"] = "https://send.example.org/verify/7K3M-9QZ2-X4TB",
        ["linkExpiresOn"] = "31 December 2026",
        ["corrected"] = "",
        ["modulesDone"] = "3",
        ["modulesTotal"] = "7",
        ["modulesLeft"] = "4",
        ["nextModule"] = "Speech, language and communication needs",
        ["timeLeft"] = "14 days",
        ["actionUrl"] = "https://learning.example.org/send-inclusion",
        ["sessionTitle"] = "SEND and inclusion: live session (Leeds)",
        ["sessionStartsAt"] = "Tuesday 1 December 2026 at 4pm",
        ["sessionLocation"] = "Leeds City Academy, Hall 2",
        ["preferencesUrl"] = "https://send.example.org/preferences/AQGiA41ajHS9vHH4GfDIIQWb6dzmkSbYG8-N41hLj-V-",
        ["contactName"] = "Gráinne Nic Giolla Phádraig",
        ["schoolUrn"] = "100004",
        ["weekOf"] = "23 November 2026",
        ["summary"] = "9 people are behind",
        ["more"] = "This email lists the 6 with the nearest deadlines; the other 3 are in the school report.",
        ["reportUrl"] = "https://send.example.org/api/v1/schools/100004/report",
    };

    /// <summary>Sample rows for list templates (the school digest), one for each kind of reason.</summary>
    public static readonly IReadOnlyList<IReadOnlyDictionary<string, string>> SampleRows =
    [
        SampleRow("Siân Ó Dálaigh", "Teacher", "The deadline passed before they finished.", "20 November 2026"),
        SampleRow("Nguyễn Thị Hương", "Teaching assistant", "Our emails to them cannot be delivered. Please check the email address your school gave us for them.", "1 December 2026"),
        SampleRow("Zoë Brontë-Ødegaard", "Support staff", "Not finished yet, and the deadline is less than two weeks away.", "4 December 2026"),
        SampleRow("Aoife Ní Bhriain", "Early years practitioner", "No progress since 26 October 2026.", "17 April 2027"),
        SampleRow("Tomasz Wójcik", "Leader", "Has not started since being enrolled on 2 November 2026.", "3 May 2027"),
        SampleRow("José Martínez", "Lecturer", "Finished the online modules on 9 November 2026 but has no live session booked.", "10 May 2027"),
    ];

    private static Dictionary<string, string> SampleRow(string name, string role, string reason, string deadline) =>
        new(StringComparer.Ordinal) { ["name"] = name, ["role"] = role, ["reason"] = reason, ["deadline"] = deadline };

    public static RouteGroupBuilder MapTemplatePreviews(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/email-templates").WithTags("Email templates");
        group.MapGet("/", List).WithSummary("The names of the email templates (admin).");
        group.MapGet("/{template}/preview", Preview)
            .WithSummary("A template rendered with sample data: JSON, or ?part=html / ?part=text to see that part as it is sent (admin).");
        return group;
    }

    private static Results<Ok<IReadOnlyList<string>>, ProblemHttpResult> List(HttpContext http) =>
        http.Caller().IsAdmin
            ? TypedResults.Ok(EmailComposer.TemplateNames)
            : Problems.Forbidden("Authorization", "only an admin key can review email templates.");

    private static IResult Preview(string template, string? part, HttpContext http, EmailComposer composer)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can review email templates.");
        }

        if (!EmailComposer.TemplateNames.Contains(template, StringComparer.Ordinal))
        {
            return Problems.NotFound("email template", "template", template);
        }

        var (subject, text, html) = composer.Render(template, SampleModel, SampleRows);
        return part switch
        {
            null => TypedResults.Ok(new TemplatePreview(template, subject, text, html)),
            "html" => TypedResults.Content(html, "text/html; charset=utf-8", Encoding.UTF8),
            "text" => TypedResults.Content(text, "text/plain; charset=utf-8", Encoding.UTF8),
            _ => Problems.Field("part", "must be html or text, or left out for all three parts as JSON."),
        };
    }
}
