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
        int count;
        Func<int, BatchRow> rowAt;
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

            count = csvRows!.Count;
            rowAt = i => csvRows[i];
        }
        else
        {
            if (!JsonBody.IsJson(http.Request))
            {
                return Problems.Field("Content-Type", $"must be application/json or {EnrolmentCsv.MediaType}.", StatusCodes.Status415UnsupportedMediaType);
            }

            var (bytes, tooLarge) = await JsonBody.ReadLimitedAsync(http.Request, MaxBatchBytes, ct);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            var elements = JsonArrayElements(bytes!);
            if (elements is null)
            {
                // Not a well-formed array of elements: the whole body is refused, exactly as reading it as a list would refuse it.
                var (bodies, problem) = JsonBody.Parse<List<JsonElement>>(bytes!, JsonBody.Options);
                if (problem is not null)
                {
                    return problem;
                }

                elements = [];
                foreach (var body in bodies!)
                {
                    var raw = System.Text.Encoding.UTF8.GetBytes(body.GetRawText());
                    elements.Add((raw, body.ValueKind == JsonValueKind.Object));
                }
            }

            if (elements.Count == 0 || elements.Count > MaxBatchRows)
            {
                return Problems.Field("body", $"must be a JSON array of 1 to {MaxBatchRows} enrolments.");
            }

            count = elements.Count;
            rowAt = i => ParseRow(elements[i].Json, elements[i].IsObject);
        }

        return TypedResults.Ok(await EnrolRowsAsync(count, rowAt, http, catalogue, workflow, urls, ct));
    }

    /// <summary>
    /// The elements of a JSON array, as slices of the body, or null unless the body is a well-formed
    /// array whose elements give no property twice (what reading it as a list of elements checks).
    /// Each row is read into its own shape only when its turn comes, so a batch of 100,000 people is
    /// never held as 100,000 parsed documents at once.
    /// </summary>
    private static List<(ReadOnlyMemory<byte> Json, bool IsObject)>? JsonArrayElements(byte[] body)
    {
        var documentOptions = new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = JsonBody.Options.MaxDepth };
        var elements = new List<(ReadOnlyMemory<byte>, bool)>();
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = JsonBody.Options.MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                var isObject = reader.TokenType == JsonTokenType.StartObject;
                reader.Skip();
                var element = body.AsMemory(start, (int)reader.BytesConsumed - start);
                if (isObject)
                {
                    // Parsed and let go at once (its buffers are pooled): only to find a property given twice.
                    using var _ = JsonDocument.Parse(element, documentOptions);
                }

                elements.Add((element, isObject));
            }

            return reader.TokenType == JsonTokenType.EndArray && !reader.Read() ? elements : null;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// The one batch enrolment, whatever the batch arrived as: each row is validated as a single
    /// enrolment would be, and the valid rows are enrolled a thousand to a transaction. A row's
    /// <c>line</c> (CSV only; 0 for JSON) is added to its problem so the row can be found in the file.
    /// </summary>
    private static async Task<BatchResponse> EnrolRowsAsync(int count, Func<int, BatchRow> rowAt, HttpContext http,
        ProgrammeCatalogue catalogue, EnrolmentWorkflow workflow, PublicUrls urls, CancellationToken ct)
    {
        var caller = http.Caller();
        var results = new BatchResults(count, id => urls.EnrolmentStatus(http.Request, id));
        var accepted = new List<(int Index, EnrolmentRequest Request, ProgrammeVersion Programme)>(RowsPerTransaction);
        var firstRowFor = new Dictionary<(string, string, string), int>();

        // Rows are read, checked and enrolled a transaction's worth at a time, in order, so only one
        // chunk of people is held in full at once; the results are the same as checking every row first.
        async Task EnrolAcceptedAsync()
        {
            var outcomes = await workflow.EnrolAsync(accepted.Select(c => (c.Request, c.Programme)).ToList(), ct);
            for (var j = 0; j < accepted.Count; j++)
            {
                results.Enrolled(accepted[j].Index, outcomes[j].Enrolment.State.Id, outcomes[j].Created);
            }

            accepted.Clear();
        }

        for (var i = 0; i < count; i++)
        {
            var row = rowAt(i);
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

                results.Refused(i, new BatchResult(i, rowProblem.StatusCode, null, null, details));
                continue;
            }

            accepted.Add((i, request!, programme!));
            if (accepted.Count == RowsPerTransaction)
            {
                await EnrolAcceptedAsync();
            }
        }

        if (accepted.Count > 0)
        {
            await EnrolAcceptedAsync();
        }

        return new BatchResponse(results);
    }

    /// <summary>
    /// A batch's results as compactly as they can be kept until they are written out: an enrolled
    /// row is its id and whether it is new, and its result (with its status URL) is made as it is
    /// written; only refused rows keep a whole result. For 100,000 rows that is a few megabytes
    /// instead of tens.
    /// </summary>
    private sealed class BatchResults(int count, Func<Guid, string> statusUrl) : IReadOnlyList<BatchResult>
    {
        private readonly Guid[] _ids = new Guid[count];
        private readonly bool[] _created = new bool[count];
        private readonly Dictionary<int, BatchResult> _refused = [];

        public int Count => count;

        public void Enrolled(int index, Guid id, bool created) => (_ids[index], _created[index]) = (id, created);

        public void Refused(int index, BatchResult result) => _refused[index] = result;

        public BatchResult this[int index] =>
            _refused.TryGetValue(index, out var refused)
                ? refused
                : new BatchResult(index, _created[index] ? StatusCodes.Status201Created : StatusCodes.Status200OK, _ids[index], statusUrl(_ids[index]), null);

        public IEnumerator<BatchResult> GetEnumerator()
        {
            for (var i = 0; i < count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private static BatchRow ParseRow(ReadOnlyMemory<byte> json, bool isObject)
    {
        if (!isObject)
        {
            return new BatchRow(null, Problems.Field("body", "must be a JSON object."));
        }

        var (body, problem) = JsonBody.Parse<EnrolmentBody>(json, JsonBody.Options);
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
