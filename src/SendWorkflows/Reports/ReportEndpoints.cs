using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;

namespace SendWorkflows.Reports;

/// <summary>
/// Reports: a school's progress, person by person, for its leads (JSON, or CSV for a spreadsheet);
/// and national progress by local authority for the programme operator.
/// </summary>
public static class ReportEndpoints
{
    public const string CsvMediaType = "text/csv";

    public static RouteGroupBuilder MapReports(this RouteGroupBuilder api)
    {
        api.MapGet("/schools/{urn}/report", SchoolReportAsync).WithTags("Reports")
            .WithSummary("The school's progress, one row per enrolment; CSV with Accept: text/csv (admin, the school).")
            .WithDescription("With Accept: text/csv the answer is text/csv; charset=utf-8: a header row naming the fields of `people` below, " +
                             "then one row per person with the same values, every value quoted, and values beginning with = + - @ tab or CR prefixed with '.");
        api.MapGet("/reports/summary", SummaryAsync).WithTags("Reports")
            .WithSummary("National progress and each local authority's: enrolments by status, completion, median days to complete, nudges sent (admin).");
        return api;
    }

    private enum Format
    {
        Json,
        Csv,
    }

    private static async Task<Results<Ok<SchoolReport>, PushStreamHttpResult, ProblemHttpResult>> SchoolReportAsync(
        string urn, HttpContext http, IWorkflowStore store, ProgrammeCatalogue programmes, TimeProvider clock, CancellationToken ct)
    {
        if (Access(urn, http.Caller()) is { } denied)
        {
            return denied;
        }

        if (Negotiate(http.Request) is not { } format)
        {
            return Problems.Field("Accept", $"must allow application/json or {CsvMediaType}.", StatusCodes.Status406NotAcceptable);
        }

        var now = clock.GetUtcNow();
        var people = PeopleAsync(urn, store, programmes, now, ct);
        if (format == Format.Csv)
        {
            return TypedResults.Stream(body => ReportCsv.WriteAsync(body, people, ct), ReportCsv.ContentType,
                fileDownloadName: $"school-{urn}-report.csv");
        }

        return TypedResults.Ok(new SchoolReport(urn, await store.LocalAuthorityAsync(urn, ct), now, people));
    }

    private static async IAsyncEnumerable<SchoolReport.Person> PeopleAsync(
        string urn, IWorkflowStore store, ProgrammeCatalogue programmes, DateTimeOffset now, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var enrolment in store.SchoolReportAsync(urn, ct))
        {
            var programme = await programmes.GetVersionAsync(enrolment.State.ProgrammeId, enrolment.State.ProgrammeVersion, ct);
            yield return SchoolReport.Row(enrolment, programme.Definition, now);
        }
    }

    private static async Task<Results<Ok<ProgressSummary>, ProblemHttpResult>> SummaryAsync(
        HttpContext http, IWorkflowStore store, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can read the national summary.");
        }

        var stored = await store.ProgressSummaryAsync(ProgressSummary.NudgeTemplates, ct);
        return TypedResults.Ok(ProgressSummary.From(stored, clock.GetUtcNow()));
    }

    /// <summary>
    /// As with a school's contacts: keys with neither admin nor any school scope are refused (403);
    /// a school's key asking about another school is told there is no such school (404).
    /// </summary>
    private static ProblemHttpResult? Access(string urn, Caller caller)
    {
        if (!caller.IsAdmin && !caller.HasAnySchool)
        {
            return Problems.Forbidden("Authorization", "only an admin key or the school's own key can read its report.");
        }

        if (!Scopes.SchoolUrnPattern().IsMatch(urn))
        {
            return Problems.Field("urn", Scopes.SchoolUrnRule);
        }

        return caller.ActsFor(urn) ? null : Problems.NotFound("school", "urn", urn);
    }

    /// <summary>JSON unless the caller prefers CSV; null when it accepts neither.</summary>
    private static Format? Negotiate(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept.Count == 0)
        {
            return Format.Json;
        }

        // Highest quality first; among equals, the order the caller listed them.
        foreach (var type in accept.OrderByDescending(a => a.Quality ?? 1))
        {
            if (type.Quality == 0)
            {
                continue;
            }

            var name = type.MediaType.Value ?? "";
            if (Is(name, "application/json") || Is(name, "application/*") || Is(name, "*/*"))
            {
                return Format.Json;
            }

            if (Is(name, CsvMediaType) || Is(name, "text/*"))
            {
                return Format.Csv;
            }
        }

        return null;
    }

    private static bool Is(string mediaType, string expected) => mediaType.Equals(expected, StringComparison.OrdinalIgnoreCase);
}
