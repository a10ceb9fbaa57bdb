using System.Security.Claims;

namespace SendWorkflows.Clients;

/// <summary>The API client making a request, and what its scopes let it do.</summary>
public sealed record Caller(Guid ClientId, IReadOnlySet<string> Scopes)
{
    public const string ClientIdClaim = "client_id";
    public const string ScopeClaim = "scope";

    public bool IsAdmin => Scopes.Contains(Clients.Scopes.Admin);

    public bool Has(string scope) => IsAdmin || Scopes.Contains(scope);

    /// <summary>Enrol, read and change enrolments of this school.</summary>
    public bool ActsFor(string schoolUrn) => IsAdmin || Scopes.Contains(Clients.Scopes.School(schoolUrn));

    public bool HasAnySchool => Scopes.Any(s => s.StartsWith(Clients.Scopes.SchoolPrefix, StringComparison.Ordinal));

    public static Caller From(ClaimsPrincipal user) =>
        new(Guid.Parse(user.FindFirstValue(ClientIdClaim) ?? throw new InvalidOperationException("The request is not authenticated.")),
            user.FindAll(ScopeClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal));
}

public static class CallerExtensions
{
    public static Caller Caller(this HttpContext context) => Clients.Caller.From(context.User);
}
