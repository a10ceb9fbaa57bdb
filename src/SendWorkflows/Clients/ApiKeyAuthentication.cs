using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using SendWorkflows.Http;
using SendWorkflows.Storage;

namespace SendWorkflows.Clients;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c> (and HTTP Basic on the xAPI routes). Key lookups are cached for a few seconds to keep the
/// hot path off the database; a revocation made on this instance takes effect at once, one made on
/// another instance within the cache time.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IWorkflowStore store,
    ApiKeyCache cache,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (header.Length > 400 || KeyFrom(header) is not { } key)
        {
            return AuthenticateResult.Fail("The Authorization header must be 'Bearer <api key>'.");
        }

        var hash = ApiKeys.Hash(key);
        var client = await cache.GetOrLoadAsync(hash, () => store.FindClientByKeyHashAsync(hash, Context.RequestAborted));
        if (client is null || client.RevokedAt is not null)
        {
            return AuthenticateResult.Fail("The API key is not valid or has been revoked.");
        }

        var claims = new List<Claim> { new(Caller.ClientIdClaim, client.Id.ToString()) };
        claims.AddRange(client.Scopes.Select(s => new Claim(Caller.ScopeClaim, s)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    /// <summary>
    /// The key from <c>Bearer &lt;key&gt;</c>; on the xAPI routes also from HTTP Basic with the key as the
    /// password, because that is how learning platforms are configured to talk to a learning record store.
    /// </summary>
    private string? KeyFrom(string header)
    {
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        if (!Xapi.XapiEndpoints.Owns(Request.Path) || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            var credentials = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            var colon = credentials.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 && colon < credentials.Length - 1 ? credentials[(colon + 1)..] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = Xapi.XapiEndpoints.Owns(Request.Path)
            ? new Microsoft.Extensions.Primitives.StringValues(["Bearer", "Basic realm=\"xAPI\""])
            : "Bearer";
        return WriteProblemAsync(StatusCodes.Status401Unauthorized, "An API key is required.",
            "Send 'Authorization: Bearer <api key>' with a key that has not been revoked.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return WriteProblemAsync(StatusCodes.Status403Forbidden, "This API key may not do that.", "The key's scopes do not allow this request.");
    }

    private async Task WriteProblemAsync(int status, string title, string detail)
    {
        var errors = new FieldErrors();
        errors.Add("Authorization", detail);
        await Problems.WriteAsync(Context, problems,
            new HttpValidationProblemDetails(errors.ToDictionary()) { Status = status, Title = title, Detail = detail });
    }
}

/// <summary>Recently seen keys, by hash, for a short time measured on the injected clock.</summary>
public sealed class ApiKeyCache(TimeProvider clock)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(30);
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (ApiClient Client, DateTimeOffset Until)> _entries = new(StringComparer.Ordinal);

    public async Task<ApiClient?> GetOrLoadAsync(string keyHash, Func<Task<ApiClient?>> load)
    {
        var now = clock.GetUtcNow();
        if (_entries.TryGetValue(keyHash, out var entry) && entry.Until > now)
        {
            return entry.Client;
        }

        var client = await load();
        if (client is not null)
        {
            if (_entries.Count >= MaxEntries)
            {
                _entries.Clear();
            }

            _entries[keyHash] = (client, now + Lifetime);
        }
        else
        {
            _entries.TryRemove(keyHash, out _);
        }

        return client;
    }

    /// <summary>Revocation knows the client id, not the key: drop every cached entry for that client.</summary>
    public void ForgetClient(Guid clientId)
    {
        foreach (var (hash, entry) in _entries)
        {
            if (entry.Client.Id == clientId)
            {
                _entries.TryRemove(hash, out _);
            }
        }
    }
}
