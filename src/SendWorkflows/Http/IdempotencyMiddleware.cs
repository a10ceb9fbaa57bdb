using System.Security.Cryptography;
using System.Text;
using SendWorkflows.Clients;
using SendWorkflows.Storage;

namespace SendWorkflows.Http;

/// <summary>Marks a route whose response holds a secret that must not be stored for replay (a new API key).</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
public sealed class SensitiveResponseAttribute : Attribute;

/// <summary>
/// <c>Idempotency-Key</c> on POST: the first request with a key runs and its response is kept; a retry
/// with the same key and the same body gets that response again without running anything; the same
/// key with a different body is refused with 422. Keys belong to the API client that sent them.
/// A crash between the work and the stored response is safe because every POST is itself idempotent
/// on its natural key (an enrolment's identity, an event's key), so running it again changes nothing;
/// a reservation left behind by a request that died is taken over after <see cref="AbandonedAfter"/>.
/// </summary>
/// <remarks>
/// Its services come through the constructor (they are all singletons): with services as
/// <c>InvokeAsync</c> parameters, building the pipeline compiles an expression tree, the first in the
/// process, which a cold start pays before it can answer.
/// </remarks>
public sealed class IdempotencyMiddleware(RequestDelegate next, IWorkflowStore store, TimeProvider clock, IProblemDetailsService problems)
{
    public const string Header = "Idempotency-Key";
    private const int MaxKeyLength = 255;

    /// <summary>A reservation still without a response after this long belongs to a request that died.</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(5);

    public async Task InvokeAsync(HttpContext http)
    {
        if (!HttpMethods.IsPost(http.Request.Method) ||
            !http.Request.Headers.TryGetValue(Header, out var values) ||
            http.User.Identity?.IsAuthenticated != true)
        {
            await next(http);
            return;
        }

        var key = values.ToString();
        if (key.Length is 0 or > MaxKeyLength || key.Any(char.IsControl))
        {
            await WriteProblemAsync(http, problems, StatusCodes.Status400BadRequest, $"must be 1 to {MaxKeyLength} printable characters.");
            return;
        }

        var clientId = http.Caller().ClientId;
        var hash = await HashRequestAsync(http.Request);
        var ct = http.RequestAborted;

        bool reserved;
        await using (var tx = await store.BeginAsync(ct))
        {
            var now = clock.GetUtcNow();
            reserved = await tx.ReserveResponseAsync(clientId, key, hash, now, now - AbandonedAfter);
            await tx.CommitAsync();
        }

        if (!reserved)
        {
            await ReplayAsync(http, problems, await store.FindResponseAsync(clientId, key, ct), hash);
            return;
        }

        var original = http.Response.Body;
        using var captured = new MemoryStream();
        http.Response.Body = captured;
        var completed = false;
        try
        {
            await next(http);
            completed = true;
        }
        finally
        {
            http.Response.Body = original;
            await using var tx = await store.BeginAsync(CancellationToken.None);
            if (completed && http.Response.StatusCode < 500)
            {
                var sensitive = http.GetEndpoint()?.Metadata.GetMetadata<SensitiveResponseAttribute>() is not null;
                var (status, type, body) = sensitive
                    ? (StatusCodes.Status409Conflict, "application/problem+json", SensitiveReplay())
                    : (http.Response.StatusCode, http.Response.ContentType, captured.ToArray());
                await tx.SaveResponseAsync(clientId, key, status, type, body);
            }
            else
            {
                // A failure is not remembered: the client may retry with the same key.
                await tx.ReleaseResponseAsync(clientId, key);
            }

            await tx.CommitAsync();
        }

        captured.Position = 0;
        await captured.CopyToAsync(original, CancellationToken.None);
    }

    private static async Task ReplayAsync(HttpContext http, IProblemDetailsService problems, StoredResponse? stored, string hash)
    {
        if (stored is not null && !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored.RequestHash), Encoding.ASCII.GetBytes(hash)))
        {
            await WriteProblemAsync(http, problems, StatusCodes.Status422UnprocessableEntity,
                "was already used for a different request; use a new key for a new request.");
            return;
        }

        if (stored?.StatusCode is null)
        {
            await WriteProblemAsync(http, problems, StatusCodes.Status409Conflict, "a request with this key is still being processed; retry shortly.");
            return;
        }

        http.Response.StatusCode = stored.StatusCode.Value;
        http.Response.Headers["Idempotent-Replayed"] = "true";
        if (stored.ContentType is not null)
        {
            http.Response.ContentType = stored.ContentType;
        }

        if (stored.Body is { Length: > 0 } body)
        {
            await http.Response.Body.WriteAsync(body);
        }
    }

    /// <summary>The method, path, query and body: a retry must repeat all four to be the same request.</summary>
    private static async Task<string> HashRequestAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n{request.ContentType}\n"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0)
        {
            sha.AppendData(buffer, 0, read);
        }

        request.Body.Position = 0;
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static byte[] SensitiveReplay() =>
        Encoding.UTF8.GetBytes(
            """{"title":"This request was already processed.","status":409,"detail":"The API key it created was shown only once and is not stored. If it was lost, revoke that client and create another.","errors":{"Idempotency-Key":["was already used; the key it created is shown only once."]}}""");

    private static Task WriteProblemAsync(HttpContext http, IProblemDetailsService problems, int status, string message)
    {
        var errors = new FieldErrors();
        errors.Add(Header, message);
        http.Response.StatusCode = status;
        return Problems.WriteAsync(http, problems, new HttpValidationProblemDetails(errors.ToDictionary())
        {
            Status = status,
            Title = status == StatusCodes.Status422UnprocessableEntity ? "The Idempotency-Key was used for another request." : "The Idempotency-Key cannot be used.",
            Detail = $"{Header} {message}",
        });
    }
}
