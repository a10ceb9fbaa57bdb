using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Workflow;

namespace SendWorkflows.Enrolments;

public static class EnrolmentEndpoints
{
    public sealed record StaffBody(string? ExternalId, string? GivenName, string? FamilyName, string? Email, string? Role);

    public sealed record EnrolmentBody(string? ProgrammeId, string? SchoolUrn, StaffBody? Staff);

    /// <summary>One row's answer: the enrolment (201 new, 200 existing) or a problem naming the field.</summary>
    /// <remarks><see cref="Problem"/> is typed as object so the serializer writes the full problem, field errors included.</remarks>
    public sealed record BatchResult(int Index, int Status, Guid? Id, string? StatusUrl, object? Problem);

    public sealed record BatchResponse(IReadOnlyList<BatchResult> Results);

    /// <summary>One row of a batch as read: the body it stands for, or why it could not be read; a CSV row's file line (0 for JSON).</summary>
    internal sealed record BatchRow(EnrolmentBody? Body, ProblemHttpResult? Problem, int Line = 0);

    public sealed record WithdrawalBody(string? Reason);

    public sealed record DeadlineExtensionBody(DateTimeOffset? Deadline);

    /// <summary>Batches larger than this are refused whole; split them.</summary>
    public const int MaxBatchRows = 100_000;
    public const long MaxBatchBytes = 64L * 1024 * 1024;
    private const int RowsPerTransaction = 1_000;

    public static RouteGroupBuilder MapEnrolments(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/enrolments").WithTags("Enrolments");
        group.MapPost("/", EnrolAsync).Accepts<EnrolmentBody>("application/json")
            .WithSummary("Enrol one person; idempotent on programme, school and externalId.");
        group.MapPost("/batch", EnrolBatchAsync).Accepts<List<EnrolmentBody>>("application/json", EnrolmentCsv.MediaType)
            .WithSummary("Enrol many people, as a JSON array or as text/csv with the header " +
                         "programmeId,schoolUrn,externalId,givenName,familyName,email,role; each row answers on its own, in input order.");
        group.MapGet("/{id}", GetAsync).WithSummary("An enrolment's status and progress.");
        group.MapPost("/{id}/withdrawal", WithdrawAsync).Accepts<WithdrawalBody>("application/json")
            .WithSummary("Withdraw the person: no further reminders.");
        group.MapPost("/{id}/reinstatement", ReinstateAsync).WithSummary("Undo a withdrawal.");
        group.MapPost("/{id}/deadline-extension", ExtendDeadlineAsync).Accepts<DeadlineExtensionBody>("application/json")
            .WithSummary("Move the deadline later; reopens a lapsed enrolment.");
        return group;
    }

    private static async Task<Results<Created<EnrolmentView>, Ok<EnrolmentView>, ProblemHttpResult>> EnrolAsync(
        HttpContext http, ProgrammeCatalogue catalogue, EnrolmentWorkflow workflow, EnrolmentAccess access, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<EnrolmentBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var (request, programme, rowProblem) = await ValidateAsync(body!, http.Caller(), catalogue, ct);
        if (rowProblem is not null)
        {
            return rowProblem;
        }

        var outcome = (await workflow.EnrolAsync([(request!, programme!)], ct))[0];
        var view = await access.ViewAsync(outcome.Enrolment, http.Request, ct);
        return outcome.Created ? TypedResults.Created(view.StatusUrl, view) : TypedResults.Ok(view);
    }

    private static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> EnrolBatchAsync(
        HttpContext http, ProgrammeCatalogue catalogue, EnrolmentWorkflow workflow, PublicUrls urls, CancellationToken ct)
    {
        IReadOnlyList<BatchRow> rows;
        if (EnrolmentCsv.IsCsv(http.Request))
        {
            if (EnrolmentCsv.OtherCharset(http.Request) is { } charset)
            {
                return Problems.Field("Content-Type", $"must be text/csv in UTF-8, not {charset}.", StatusCodes.Status415UnsupportedMediaType);
            }

            var (bytes, tooLarge) = await JsonBody.ReadLimitedAsync(http.Request, MaxBatchBytes, ct);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            var (csvRows, csvProblem) = EnrolmentCsv.Read(bytes!, MaxBatchRows);
            if (csvProblem is not null)
            {
                return csvProblem;
            }

            rows = csvRows!;
        }
        else
        {
            if (!JsonBody.IsJson(http.Request))
            {
                return Problems.Field("Content-Type", $"must be application/json or {EnrolmentCsv.MediaType}.", StatusCodes.Status415UnsupportedMediaType);
            }

            var (bodies, problem) = await JsonBody.ReadAsync<List<JsonElement>>(http.Request, ct, MaxBatchBytes);
            if (problem is not null)
            {
                return problem;
            }

            if (bodies!.Count == 0 || bodies.Count > MaxBatchRows)
            {
                return Problems.Field("body", $"must be a JSON array of 1 to {MaxBatchRows} enrolments.");
            }

            rows = bodies.Select(ParseRow).ToList();
        }

        return TypedResults.Ok(await EnrolRowsAsync(rows, http, catalogue, workflow, urls, ct));
    }

    /// <summary>
    /// The one batch enrolment, whatever the batch arrived as: each row is validated as a single
    /// enrolment would be, and the valid rows are enrolled a thousand to a transaction. A row's
    /// <c>line</c> (CSV only; 0 for JSON) is added to its problem so the row can be found in the file.
    /// </summary>
    private static async Task<BatchResponse> EnrolRowsAsync(IReadOnlyList<BatchRow> rows, HttpContext http,
        ProgrammeCatalogue catalogue, EnrolmentWorkflow workflow, PublicUrls urls, CancellationToken ct)
    {
        var caller = http.Caller();
        var results = new BatchResult?[rows.Count];
        var accepted = new List<(int Index, EnrolmentRequest Request, ProgrammeVersion Programme)>();
        var firstRowFor = new Dictionary<(string, string, string), int>();
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var (request, programme, rowProblem) = row.Problem is null
                ? await ValidateAsync(row.Body!, caller, catalogue, ct)
                : (null, null, row.Problem);
            if (rowProblem is null &&
                !firstRowFor.TryAdd((request!.ProgrammeId, request.SchoolUrn, request.Staff.ExternalId), i))
            {
                rowProblem = Problems.Field("staff.externalId",
                    $"the same person is also at index {firstRowFor[(request.ProgrammeId, request.SchoolUrn, request.Staff.ExternalId)]} of this batch.");
            }

            if (rowProblem is not null)
            {
                var details = rowProblem.ProblemDetails;
                details.Detail = $"Row {i}: {details.Detail}";
                details.Extensions["index"] = i;
                if (row.Line > 0)
                {
                    details.Extensions["line"] = row.Line;
                }

                results[i] = new BatchResult(i, rowProblem.StatusCode, null, null, details);
                continue;
            }

            accepted.Add((i, request!, programme!));
        }

        foreach (var chunk in accepted.Chunk(RowsPerTransaction))
        {
            var outcomes = await workflow.EnrolAsync(chunk.Select(c => (c.Request, c.Programme)).ToList(), ct);
            for (var j = 0; j < chunk.Length; j++)
            {
                var id = outcomes[j].Enrolment.State.Id;
                results[chunk[j].Index] = new BatchResult(chunk[j].Index,
                    outcomes[j].Created ? StatusCodes.Status201Created : StatusCodes.Status200OK, id, urls.EnrolmentStatus(http.Request, id), null);
            }
        }

        return new BatchResponse(results.Select(r => r!).ToList());
    }

    private static BatchRow ParseRow(JsonElement row)
    {
        if (row.ValueKind != JsonValueKind.Object)
        {
            return new BatchRow(null, Problems.Field("body", "must be a JSON object."));
        }

        var (body, problem) = JsonBody.Parse<EnrolmentBody>(System.Text.Encoding.UTF8.GetBytes(row.GetRawText()), JsonBody.Options);
        return new BatchRow(body, problem);
    }

    /// <summary>Checks one enrolment body field by field; the caller may enrol only into its own school.</summary>
    internal static async Task<(EnrolmentRequest? Request, ProgrammeVersion? Programme, ProblemHttpResult? Problem)> ValidateAsync(
        EnrolmentBody body, Caller caller, ProgrammeCatalogue catalogue, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var programmeId = errors.RequiredText(body.ProgrammeId, "programmeId", 64);
        var schoolUrn = body.SchoolUrn?.Trim();
        if (string.IsNullOrEmpty(schoolUrn))
        {
            errors.Add("schoolUrn", "is required.");
        }
        else if (!Scopes.SchoolUrnPattern().IsMatch(schoolUrn))
        {
            errors.Add("schoolUrn", Scopes.SchoolUrnRule);
        }

        var staff = ValidateStaff(body.Staff, errors);
        if (errors.Any)
        {
            return (null, null, Problems.Invalid(errors));
        }

        if (!caller.ActsFor(schoolUrn!))
        {
            return (null, null, Problems.Forbidden("schoolUrn", $"this API key may not enrol people at school {schoolUrn}."));
        }

        var programme = await catalogue.GetCurrentAsync(programmeId!, ct);
        if (programme is null)
        {
            return (null, null, Problems.Field("programmeId", $"no programme '{programmeId}' exists.", StatusCodes.Status422UnprocessableEntity));
        }

        return (new EnrolmentRequest(programmeId!, schoolUrn!, staff!), programme, null);
    }

    internal static StaffMember? ValidateStaff(StaffBody? staff, FieldErrors errors)
    {
        if (staff is null)
        {
            errors.Add("staff", "is required.");
            return null;
        }

        var externalId = errors.RequiredText(staff.ExternalId, "staff.externalId", 100);
        var given = errors.RequiredText(staff.GivenName, "staff.givenName", 100);
        var family = errors.RequiredText(staff.FamilyName, "staff.familyName", 100);
        var email = errors.RequiredText(staff.Email, "staff.email", 254);
        if (email is not null && !EmailAddresses.IsValid(email))
        {
            errors.Add("staff.email", EmailAddresses.Expected);
        }

        StaffRole? role = null;
        if (string.IsNullOrWhiteSpace(staff.Role))
        {
            errors.Add("staff.role", "is required.");
        }
        else if (!Enum.GetValues<StaffRole>().Any(r => RoleName(r) == staff.Role))
        {
            errors.Add("staff.role", $"must be one of {string.Join(", ", Enum.GetValues<StaffRole>().Select(RoleName))}.");
        }
        else
        {
            role = Enum.GetValues<StaffRole>().First(r => RoleName(r) == staff.Role);
        }

        return errors.Any ? null : new StaffMember(externalId!, given!, family!, email!, role!.Value);
    }

    private static string RoleName(StaffRole role) => JsonNamingPolicy.SnakeCaseLower.ConvertName(role.ToString());

    private static async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> GetAsync(
        string id, HttpContext http, EnrolmentAccess access, CancellationToken ct)
    {
        var (enrolment, problem) = await access.FindAsync(id, http.Caller(), null, ct, "id");
        return problem ?? (Results<Ok<EnrolmentView>, ProblemHttpResult>)TypedResults.Ok(await access.ViewAsync(enrolment!, http.Request, ct, withEmails: true));
    }

    private static async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> WithdrawAsync(
        string id, HttpContext http, EnrolmentAccess access, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadOptionalAsync<WithdrawalBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var reason = body?.Reason?.Trim();
        if (reason is { Length: > 500 })
        {
            return Problems.Field("reason", "must be at most 500 characters.");
        }

        return await access.ApplyAsync(id, http, null, new Withdrawn(reason), ct, "id");
    }

    private static Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> ReinstateAsync(
        string id, HttpContext http, EnrolmentAccess access, CancellationToken ct) =>
        access.ApplyAsync(id, http, null, new Reinstated(), ct, "id");

    private static async Task<Results<Ok<EnrolmentView>, ProblemHttpResult>> ExtendDeadlineAsync(
        string id, HttpContext http, EnrolmentAccess access, TimeProvider clock, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<DeadlineExtensionBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (body!.Deadline is not { } deadline)
        {
            return Problems.Field("deadline", "is required: the new deadline as an ISO 8601 date-time with an offset.");
        }

        if (deadline > clock.GetUtcNow() + ProgrammeDocument.LongestDuration)
        {
            return Problems.Field("deadline", "must be within ten years.", StatusCodes.Status422UnprocessableEntity);
        }

        return await access.ApplyAsync(id, http, null, new DeadlineExtended(deadline), ct, "id");
    }
}
