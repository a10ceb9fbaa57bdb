using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Enrolments;

/// <summary>
/// Finding an enrolment on behalf of a caller, and answering with it. A school's key sees only its
/// own school's enrolments: another school's look exactly like ones that do not exist (404), so a
/// key cannot even learn which ids are in use.
/// </summary>
public sealed class EnrolmentAccess(
    IWorkflowStore store,
    ProgrammeCatalogue programmes,
    EnrolmentWorkflow workflow,
    PublicUrls urls,
    Certificates.CertificateLinks links,
    TimeProvider clock)
{
    /// <param name="alsoAllowedScope">A non-school scope that may act on any school's enrolments for this route (lms, sessions), if any.</param>
    public async Task<(StoredEnrolment? Enrolment, ProblemHttpResult? Problem)> FindAsync(
        string id, Caller caller, string? alsoAllowedScope, CancellationToken ct, string field = "enrolmentId")
    {
        ProblemHttpResult NotFound() => Problems.NotFound("enrolment", field, id);
        if (!caller.IsAdmin && !caller.HasAnySchool && (alsoAllowedScope is null || !caller.Has(alsoAllowedScope)))
        {
            return (null, Problems.Forbidden("Authorization", "this API key's scopes do not allow this request."));
        }

        if (!Guid.TryParse(id, out var enrolmentId))
        {
            return (null, NotFound());
        }

        var enrolment = await store.GetEnrolmentAsync(enrolmentId, ct);
        if (enrolment is null)
        {
            return (null, NotFound());
        }

        return Allows(caller, enrolment.State.SchoolUrn, alsoAllowedScope) ? (enrolment, null) : (null, NotFound());
    }

    public static bool Allows(Caller caller, string schoolUrn, string? alsoAllowedScope) =>
        caller.ActsFor(schoolUrn) || (alsoAllowedScope is not null && caller.Has(alsoAllowedScope));

    public async Task<EnrolmentView> ViewAsync(StoredEnrolment enrolment, HttpRequest request, CancellationToken ct, bool withEmails = false)
    {
        var programme = await programmes.GetVersionAsync(enrolment.State.ProgrammeId, enrolment.State.ProgrammeVersion, ct);
        EnrolmentView.CertificateLinks? certificate = null;
        if (enrolment.State.CertificateVersion > 0 && await store.CurrentCertificateAsync(enrolment.State.Id, ct) is { } issued)
        {
            var download = issued.Status == CertificateStatus.Valid
                ? links.DownloadUrl(issued.Number, clock.GetUtcNow() + programme.Definition.Certificate.LinkValidity, request)
                : null;
            certificate = new EnrolmentView.CertificateLinks(issued.Number, issued.Status, download, links.VerifyUrl(issued.Number, request), issued.IssuedAt);
        }

        var view = EnrolmentView.From(enrolment, programme, urls.EnrolmentStatus(request, enrolment.State.Id), certificate, clock.GetUtcNow());
        return withEmails
            ? view with { Emails = (await store.DeliveriesAsync(enrolment.State.Id, ct)).Select(d => new EnrolmentView.EmailEvent(d.Template, d.Event, d.OccurredAt, d.Detail)).ToList() }
            : view;
    }

    /// <summary>Finds the enrolment for the caller, applies the event, and answers with the enrolment as it now is.</summary>
    public async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> ApplyAsync(
        string id, HttpContext http, string? alsoAllowedScope, WorkflowEvent evt, CancellationToken ct, string field = "enrolmentId")
    {
        var (enrolment, problem) = await FindAsync(id, http.Caller(), alsoAllowedScope, ct, field);
        if (problem is not null)
        {
            return problem;
        }

        var outcome = await workflow.ApplyAsync(enrolment!.State.Id, evt, ct, enrolment);
        return outcome switch
        {
            { Rejection: { } rejection } => ToProblem(rejection),
            { Enrolment: { } current } => TypedResults.Ok(await ViewAsync(current, http.Request, ct)),
            _ => Problems.NotFound("enrolment", field, id),
        };
    }

    public static ProblemHttpResult ToProblem(Rejection rejection, string? fieldPrefix = null)
    {
        var field = fieldPrefix is null ? rejection.Field : $"{fieldPrefix}.{rejection.Field}";
        return rejection.Kind == RejectionKind.Conflict
            ? Problems.Conflict(field, rejection.Message)
            : Problems.Field(field, rejection.Message, StatusCodes.Status422UnprocessableEntity);
    }
}
