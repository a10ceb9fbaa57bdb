using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Enrolments;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Xapi;

/// <summary>
/// <c>POST /xapi/statements</c> (xAPI 1.0.3, Part Three §2.1.2): one statement or an array, answered
/// with their ids in order. A batch is stored whole or not at all, together with the progress it
/// reports. A statement id already stored with the same content changes nothing; with other content
/// the batch is refused (409). The service takes statements from learning platforms; it does not
/// serve them back, so it is a statement receiver, not a full learning record store.
/// </summary>
public static partial class XapiEndpoints
{
    public const string Prefix = "/xapi";
    public const string VersionHeader = "X-Experience-API-Version";
    public const string ConsistentThroughHeader = "X-Experience-API-Consistent-Through";

    /// <summary>The version this service follows, sent on every xAPI response.</summary>
    public const string Version = "1.0.3";

    public const int MaxBodyBytes = 1024 * 1024;
    public const int MaxStatements = 1_000;

    public static bool Owns(PathString path) => path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Every response on the xAPI routes, errors and challenges included, says which version it speaks.</summary>
    public static IApplicationBuilder UseXapiHeaders(this IApplicationBuilder app) =>
        app.Use((http, next) =>
        {
            if (Owns(http.Request.Path))
            {
                http.Response.OnStarting(() =>
                {
                    var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
                    http.Response.Headers[VersionHeader] = Version;
                    // Statements are stored before the answer goes out, so everything stored until now can be read.
                    http.Response.Headers[ConsistentThroughHeader] = now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
                    return Task.CompletedTask;
                });
            }

            return next(http);
        });

    public static IEndpointRouteBuilder MapXapi(this IEndpointRouteBuilder app)
    {
        app.MapPost($"{Prefix}/statements", PostStatementsAsync).RequireAuthorization().RequireRateLimiting(Http.ApiKeyRateLimitPolicy.Name)
            .WithTags("xAPI")
            .Accepts<JsonElement>("application/json")
            .WithSummary("xAPI 1.0.3 statements, one or an array, with the X-Experience-API-Version header; answers their ids in order " +
                         "(admin, lms, or a school for its own people).");
        return app;
    }

    private static async Task<Results<Ok<string[]>, ProblemHttpResult>> PostStatementsAsync(
        HttpContext http, IWorkflowStore store, StatementReader reader, StatementProgress progress, EnrolmentWorkflow workflow,
        TimeProvider clock, CancellationToken ct)
    {
        var request = http.Request;
        if (VersionProblem(request.Headers[VersionHeader].ToString()) is { } versionProblem)
        {
            return versionProblem;
        }

        var caller = http.Caller();
        if (!caller.IsAdmin && !caller.Has(Scopes.Lms) && !caller.HasAnySchool)
        {
            return Problems.Forbidden("Authorization", "only an admin, lms or school key may send statements.");
        }

        if (request.Query.Count > 0)
        {
            return Problems.Field(request.Query.Keys.First(), "is not a parameter of POST /xapi/statements.");
        }

        if (!JsonBody.IsJson(request))
        {
            return Problems.Field("Content-Type", "must be application/json (attachments are accepted by fileUrl, not as multipart/mixed).",
                StatusCodes.Status415UnsupportedMediaType);
        }

        IReadOnlyList<XapiStatement>? statements;
        ProblemHttpResult? problem;
        var (body, tooLarge) = await JsonBody.ReadPooledAsync(request, MaxBodyBytes, ct);
        if (tooLarge is not null)
        {
            return tooLarge;
        }

        using (body)
        {
            // What is read is copied out of the body (each statement's JSON is kept as text), so the buffer can go back.
            (statements, problem) = Read(body!.Memory, reader);
        }

        if (problem is not null)
        {
            return problem;
        }

        return await StoreAsync(statements!, http, store, progress, workflow, clock, ct);
    }

    /// <summary>
    /// xAPI 1.0.3 Part Three §3.3: a request says which version it follows; 1.0 and any 1.0.x are
    /// accepted (1.0 meaning 1.0.0), anything else is refused.
    /// </summary>
    private static ProblemHttpResult? VersionProblem(string value) =>
        value.Length == 0
            ? Problems.Field(VersionHeader, $"is required: the xAPI version the request follows, such as {Version}.")
            : AcceptedVersion().IsMatch(value)
                ? null
                : Problems.Field(VersionHeader, $"'{(value.Length > 20 ? value[..20] + "…" : value)}' is not supported; this service speaks xAPI 1.0.x ({Version}).");

    private static (IReadOnlyList<XapiStatement>? Statements, ProblemHttpResult? Problem) Read(ReadOnlyMemory<byte> bytes, StatementReader reader)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            return (null, Problems.Field("body", $"is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {Brief(e.Message)}"));
        }

        using (document)
        {
            var root = document.RootElement;
            List<(JsonElement Statement, string Field)>? items = root.ValueKind switch
            {
                JsonValueKind.Object => [(root, "")],
                JsonValueKind.Array => root.EnumerateArray().Select((s, i) => (s, $"[{i}].")).ToList(),
                _ => null,
            };
            if (items is not { Count: > 0 and <= MaxStatements })
            {
                return (null, Problems.Field("body", $"must be a statement (an object) or an array of 1 to {MaxStatements} statements."));
            }

            var errors = new FieldErrors();
            var statements = new List<XapiStatement>(items.Count);
            var seen = new Dictionary<Guid, string>();
            foreach (var (element, field) in items)
            {
                if (reader.Read(element, field, errors) is not { } statement)
                {
                    continue;
                }

                if (!statement.IdAssigned && !seen.TryAdd(statement.Id, field))
                {
                    errors.Add(field + "id", $"is the id of statement {seen[statement.Id].TrimEnd('.')} as well; ids in a batch must differ.");
                    continue;
                }

                statements.Add(statement);
            }

            return errors.Any ? (null, Problems.Invalid(errors)) : (statements, null);
        }
    }

    /// <summary>
    /// Stores the statements and applies the progress they report in one transaction: if any statement
    /// is refused, nothing of the batch is kept. Statements already stored under their id are compared,
    /// not applied again. The whole batch costs a few round trips, not a few per statement: the people
    /// it is about are read in one go, its progress is decided in memory in statement order, and the
    /// result is written in a few multi-row statements.
    /// </summary>
    private static async Task<Results<Ok<string[]>, ProblemHttpResult>> StoreAsync(
        IReadOnlyList<XapiStatement> statements, HttpContext http, IWorkflowStore store, StatementProgress progress, EnrolmentWorkflow workflow,
        TimeProvider clock, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StoreOnceAsync(statements, http, store, progress, workflow, clock, ct);
            }
            catch (ConcurrentUpdateException) when (attempt < MaxConcurrencyRetries)
            {
                // Someone saved one of the enrolments between our read and our write: decide again on what they left.
            }
        }
    }

    private const int MaxConcurrencyRetries = 3;

    private static async Task<Results<Ok<string[]>, ProblemHttpResult>> StoreOnceAsync(
        IReadOnlyList<XapiStatement> statements, HttpContext http, IWorkflowStore store, StatementProgress progress, EnrolmentWorkflow workflow,
        TimeProvider clock, CancellationToken ct)
    {
        var caller = http.Caller();
        int effects;
        await using (var tx = await store.BeginAsync(ct))
        {
            var now = clock.GetUtcNow();
            var stored = (await tx.FindXapiStatementsAsync(statements.Where(s => !s.IdAssigned).Select(s => s.Id).ToList()))
                .ToDictionary(s => s.Id);
            var subjects = await progress.SubjectsAsync(tx, statements.Where(s => !stored.ContainsKey(s.Id)), http.Request);

            // What each new statement means, in order, up to the first that is refused.
            var meanings = new List<(XapiStatement Statement, StatementMeaning Meaning)>(statements.Count);
            ProblemHttpResult? refused = null;
            foreach (var statement in statements)
            {
                if (stored.TryGetValue(statement.Id, out var earlier))
                {
                    if (earlier.ContentHash != statement.ContentHash || !StatementComparison.SameTimestamp(earlier.OccurredAt, statement.Timestamp))
                    {
                        refused = Problems.Conflict(statement.Field + "id", "a different statement with this id is already stored; statements never change.");
                        break;
                    }

                    continue;
                }

                var meaning = await progress.MeaningAsync(subjects, statement, caller, http.Request, now, ct);
                if (meaning.Problem is not null)
                {
                    refused = meaning.Problem;
                    break;
                }

                meanings.Add((statement, meaning));
            }

            // The progress they report, applied in statement order; progress an earlier statement
            // reports that the enrolment refuses is the answer, before a later statement's problem.
            var keys = meanings.Where(m => m.Meaning.Event is not null)
                .Select(m => (m.Meaning.EnrolmentId!.Value, EventKeys.For(Moments.Truncate(m.Meaning.Event!)))).Distinct().ToList();
            var fold = workflow.Fold(subjects.Enrolments, keys.Count == 0 ? new HashSet<(Guid, string)>() : await tx.StoredEventKeysAsync(keys), now);
            var records = new List<XapiStatementRecord>(meanings.Count);
            foreach (var (statement, meaning) in meanings)
            {
                if (meaning.Event is { } evt)
                {
                    var outcome = await fold.ApplyAsync(meaning.EnrolmentId!.Value, evt, ct);
                    if (outcome.Rejection is { } rejection)
                    {
                        var field = rejection.Field == "moduleId" ? "object.id" : meaning.EnrolmentField[statement.Field.Length..];
                        return EnrolmentAccess.ToProblem(rejection with { Field = field }, statement.Field.Length == 0 ? null : statement.Field.TrimEnd('.'));
                    }
                }

                records.Add(new XapiStatementRecord(statement.Id, meaning.EnrolmentId, statement.Verb, statement.ContentHash,
                    statement.Timestamp, StoredJson(statement), caller.ClientId, now));
            }

            if (refused is not null)
            {
                return refused;
            }

            await fold.SaveAsync(tx);
            if (records.Count > 0)
            {
                await tx.InsertXapiStatementsAsync(records);
            }

            await tx.CommitAsync();
            effects = fold.Effects;
        }

        workflow.NotifyIfEffects(effects);
        return TypedResults.Ok(statements.Select(s => s.Id.ToString("D")).ToArray());
    }

    /// <summary>The statement as it came, with the id it was given if it came without one.</summary>
    private static string StoredJson(XapiStatement statement)
    {
        if (!statement.IdAssigned)
        {
            return statement.Json;
        }

        var json = JsonNode.Parse(statement.Json)!.AsObject();
        json.Insert(0, "id", statement.Id.ToString("D"));
        return json.ToJsonString();
    }

    private static string Brief(string message) => message.Length > 200 ? message[..200] + "…" : message;

    [GeneratedRegex(@"^1\.0(?:\.[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex AcceptedVersion();
}
