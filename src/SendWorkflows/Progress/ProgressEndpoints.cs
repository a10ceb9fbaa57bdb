using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Enrolments;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Progress;

/// <summary>Module completions reported by learning platforms and school systems.</summary>
public static class ProgressEndpoints
{
    public sealed record CompletionBody(DateTimeOffset? CompletedAt);

    public sealed record ProgressBody(string? ProgrammeId, string? SchoolUrn, string? ExternalId, string? ModuleId, DateTimeOffset? CompletedAt);

    /// <summary>Clocks of reporting systems drift; a completion this far ahead of ours is still accepted.</summary>
    public static readonly TimeSpan ClockSkewAllowance = TimeSpan.FromMinutes(5);

    public static RouteGroupBuilder MapProgress(this RouteGroupBuilder api)
    {
        api.MapPost("/enrolments/{id}/modules/{moduleId}/completion", CompleteModuleAsync)
            .Accepts<CompletionBody>("application/json").WithTags("Progress")
            .WithSummary("Record that the person completed a module (admin, lms, or the person's school).");
        api.MapPost("/progress", ReportProgressAsync)
            .Accepts<ProgressBody>("application/json").WithTags("Progress")
            .WithSummary("The same, addressed by programme, school and the person's externalId.");
        return api;
    }

    private static async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> CompleteModuleAsync(
        string id, string moduleId, HttpContext http, EnrolmentAccess access, TimeProvider clock, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadOptionalAsync<CompletionBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var (at, timeProblem) = CompletionTime(body?.CompletedAt, clock);
        return timeProblem ?? await access.ApplyAsync(id, http, Scopes.Lms, new ModuleCompleted(moduleId, at), ct, "id");
    }

    private static async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> ReportProgressAsync(
        HttpContext http, IWorkflowStore store, EnrolmentAccess access, TimeProvider clock, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<ProgressBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        foreach (var (value, field) in new[] { (body!.ProgrammeId, "programmeId"), (body.SchoolUrn, "schoolUrn"), (body.ExternalId, "externalId"), (body.ModuleId, "moduleId") })
        {
            if (string.IsNullOrWhiteSpace(value) || value.Length > 100)
            {
                errors.Add(field, "is required, at most 100 characters.");
            }
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var caller = http.Caller();
        if (!EnrolmentAccess.Allows(caller, body.SchoolUrn!.Trim(), Scopes.Lms))
        {
            return Problems.Forbidden("schoolUrn", $"this API key may not report progress for school {body.SchoolUrn}.");
        }

        var (at, timeProblem) = CompletionTime(body.CompletedAt, clock);
        if (timeProblem is not null)
        {
            return timeProblem;
        }

        var id = await store.FindEnrolmentIdAsync(body.ProgrammeId!.Trim(), body.SchoolUrn.Trim(), body.ExternalId!.Trim(), ct);
        if (id is null)
        {
            return Problems.Field("externalId",
                $"nobody with externalId '{body.ExternalId}' is enrolled on programme '{body.ProgrammeId}' at school {body.SchoolUrn}.",
                StatusCodes.Status404NotFound);
        }

        return await access.ApplyAsync(id.Value.ToString(), http, Scopes.Lms, new ModuleCompleted(body.ModuleId!.Trim(), at), ct);
    }

    private static (DateTimeOffset At, ProblemHttpResult? Problem) CompletionTime(DateTimeOffset? reported, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        if (reported is { } at && at > now + ClockSkewAllowance)
        {
            return (default, Problems.Field("completedAt", "must not be in the future.", StatusCodes.Status422UnprocessableEntity));
        }

        // Stored to the millisecond, the store's resolution, so a repeated report is recognised as the same event.
        var value = reported ?? now;
        return (DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds()), null);
    }
}
