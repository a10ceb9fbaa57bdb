using Microsoft.AspNetCore.Http.Features;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Preferences;

/// <summary>
/// <c>GET/POST /preferences/{token}</c>: the page every reminder links to. It shows the person their
/// progress and lets them turn reminder emails off or on with a plain HTML form (no scripts). The same
/// URL is the email's <c>List-Unsubscribe</c> target: a <c>POST</c> with <c>List-Unsubscribe=One-Click</c>
/// (RFC 8058), sent by the mailbox provider, turns reminders off.
/// </summary>
public static class PreferenceEndpoints
{
    public const string OneClickField = "List-Unsubscribe";
    public const string OneClickValue = "One-Click";

    public static void MapPreferences(this IEndpointRouteBuilder app)
    {
        app.MapGet("/preferences/{token}", GetAsync).WithTags("Preferences").AllowAnonymous()
            .WithSummary("A person's progress and email preferences (HTML), opened from the link in their reminders.");
        app.MapPost("/preferences/{token}", PostAsync).WithTags("Preferences").AllowAnonymous()
            .Accepts<IFormCollection>("application/x-www-form-urlencoded", "multipart/form-data")
            .WithSummary("Change email preferences: reminders=on|off from the page, or List-Unsubscribe=One-Click (RFC 8058).");
    }

    private static async Task<IResult> GetAsync(
        string token, HttpContext http, PreferenceTokens tokens, IWorkflowStore store, ProgrammeCatalogue programmes, CancellationToken ct)
    {
        http.Response.Headers.CacheControl = "private, no-store";
        if (tokens.TryRead(token, out var subject, out var id) && subject == PreferenceSubject.SchoolContact)
        {
            var contact = await store.GetSchoolContactAsync(id, ct);
            return HtmlPage.Html(PreferencesPage.ForContact(contact?.SchoolUrn, stopped: contact is null));
        }

        var found = await FindAsync(token, tokens, store, programmes, ct);
        return found is null ? NotFound(http) : HtmlPage.Html(PreferencesPage.For(found.Value.State, found.Value.Programme, saved: null));
    }

    private static async Task<IResult> PostAsync(
        string token, HttpContext http, PreferenceTokens tokens, IWorkflowStore store, ProgrammeCatalogue programmes,
        EnrolmentWorkflow workflow, CancellationToken ct)
    {
        http.Response.Headers.CacheControl = "private, no-store";
        var contactToken = tokens.TryRead(token, out var subject, out var contactId) && subject == PreferenceSubject.SchoolContact;
        var found = contactToken ? null : await FindAsync(token, tokens, store, programmes, ct);
        if (!contactToken && found is null)
        {
            return NotFound(http);
        }

        var (reminders, problem) = await ReadChoiceAsync(http, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (contactToken)
        {
            if (reminders == true)
            {
                return Problems.Field("reminders", "the weekly summary can only be stopped here; the school can register you again.");
            }

            // A school lead who stops the digest is removed as a contact; the school can add them again.
            if (await store.GetSchoolContactAsync(contactId, ct) is { } contact)
            {
                await using var tx = await store.BeginAsync(ct);
                await tx.DeleteSchoolContactAsync(contact.SchoolUrn, contact.Id);
                await tx.CommitAsync();
            }

            return HtmlPage.Html(PreferencesPage.ForContact(null, stopped: true));
        }

        var (state, programme) = found!.Value;
        var outcome = await workflow.ApplyAsync(state.Id, new PreferencesChanged(reminders!.Value), ct);
        var current = outcome.Enrolment?.State ?? state;
        return HtmlPage.Html(PreferencesPage.For(current, programme, saved: reminders));
    }

    /// <summary>The choice in the posted form: reminders on or off, or the RFC 8058 one-click body (off).</summary>
    private static async Task<(bool? Reminders, IResult? Problem)> ReadChoiceAsync(HttpContext http, CancellationToken ct)
    {
        if (!http.Request.HasFormContentType)
        {
            return (null, Problems.Field("Content-Type", "must be application/x-www-form-urlencoded or multipart/form-data.",
                StatusCodes.Status415UnsupportedMediaType));
        }

        IFormCollection form;
        try
        {
            // A form with one or two short fields; anything bigger is not from our page or a mailbox provider.
            var feature = new FormFeature(http.Request, new FormOptions
            {
                ValueCountLimit = 10, KeyLengthLimit = 100, ValueLengthLimit = 100, MultipartBodyLengthLimit = 4096,
                BufferBodyLengthLimit = 4096, MultipartHeadersLengthLimit = 4096,
            });
            form = await feature.ReadFormAsync(ct);
        }
        catch (InvalidDataException)
        {
            return (null, Problems.Field("body", "is not a small form with the field 'reminders' or 'List-Unsubscribe'."));
        }

        if (string.Equals(form[OneClickField], OneClickValue, StringComparison.Ordinal))
        {
            return (false, null);
        }

        return form["reminders"].ToString() switch
        {
            "on" => (true, null),
            "off" => (false, null),
            _ => (null, Problems.Field("reminders", "must be 'on' or 'off' (or send List-Unsubscribe=One-Click to unsubscribe).")),
        };
    }

    private static async Task<(EnrolmentState State, ProgrammeDefinition Programme)?> FindAsync(
        string token, PreferenceTokens tokens, IWorkflowStore store, ProgrammeCatalogue programmes, CancellationToken ct)
    {
        if (!tokens.TryRead(token, out var subject, out var id) || subject != PreferenceSubject.Enrolment ||
            await store.GetEnrolmentAsync(id, ct) is not { } stored)
        {
            return null;
        }

        var programme = await programmes.GetVersionAsync(stored.State.ProgrammeId, stored.State.ProgrammeVersion, ct);
        return (stored.State, programme.Definition);
    }

    private static IResult NotFound(HttpContext http) =>
        HtmlPage.PrefersJson(http.Request)
            ? Problems.Field("token", "is not a valid preferences link.", StatusCodes.Status404NotFound)
            : HtmlPage.Html(PreferencesPage.NotFound(), StatusCodes.Status404NotFound);
}
