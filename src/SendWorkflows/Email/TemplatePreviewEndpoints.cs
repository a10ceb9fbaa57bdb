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
    };

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

        var (subject, text, html) = composer.Render(template, SampleModel);
        return part switch
        {
            null => TypedResults.Ok(new TemplatePreview(template, subject, text, html)),
            "html" => TypedResults.Content(html, "text/html; charset=utf-8", Encoding.UTF8),
            "text" => TypedResults.Content(text, "text/plain; charset=utf-8", Encoding.UTF8),
            _ => Problems.Field("part", "must be html or text, or left out for all three parts as JSON."),
        };
    }
}
