using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Storage;

namespace SendWorkflows.Schools;

/// <summary>
/// What the operator records about a school beyond its URN: its local authority, which the URN
/// does not encode, so that national reports can be broken down by area. Admin only.
/// </summary>
public static class SchoolDetailsEndpoints
{
    public sealed record SchoolDetailsBody(string? LocalAuthority);

    public sealed record SchoolDetailsView(string SchoolUrn, string? LocalAuthority, DateTimeOffset UpdatedAt);

    private const int MaxLocalAuthorityLength = 100;

    /// <summary>The area that schools without a local authority are counted under; no real authority may take its name.</summary>
    public const string UnknownArea = "unknown";

    public static RouteGroupBuilder MapSchoolDetails(this RouteGroupBuilder api)
    {
        api.MapPut("/schools/{urn}", PutAsync).WithTags("Schools").Accepts<SchoolDetailsBody>("application/json")
            .WithSummary("Set the school's local authority for national reports; null removes it (admin).");
        return api;
    }

    private static async Task<Results<Ok<SchoolDetailsView>, ProblemHttpResult>> PutAsync(
        string urn, HttpContext http, IWorkflowStore store, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can set a school's local authority.");
        }

        if (!Scopes.SchoolUrnPattern().IsMatch(urn))
        {
            return Problems.Field("urn", Scopes.SchoolUrnRule);
        }

        // Read as a document so that a missing localAuthority (a mistake) is told apart from null (remove it).
        var (body, problem) = await JsonBody.ReadAsync<JsonObject>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        foreach (var (name, _) in body!)
        {
            if (name != "localAuthority")
            {
                errors.Add(name, "is not a recognised property.");
            }
        }

        string? localAuthority = null;
        if (!body.TryGetPropertyValue("localAuthority", out var value))
        {
            errors.Add("localAuthority", "is required: the local authority's name, or null to remove it.");
        }
        else if (value is not null)
        {
            localAuthority = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>().Trim() : null;
            if (localAuthority is null)
            {
                errors.Add("localAuthority", "must be a string, or null to remove it.");
            }
            else if (localAuthority.Length is 0 or > MaxLocalAuthorityLength || localAuthority.Any(char.IsControl))
            {
                errors.Add("localAuthority", $"must be 1 to {MaxLocalAuthorityLength} characters without control characters, or null to remove it.");
            }
            else if (localAuthority.Equals(UnknownArea, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add("localAuthority", $"'{UnknownArea}' is where reports count schools with no local authority; send null to remove this school's.");
            }
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var now = clock.GetUtcNow();
        await using (var tx = await store.BeginAsync(ct))
        {
            await tx.SetLocalAuthorityAsync(urn, localAuthority, now);
            await tx.CommitAsync();
        }

        return TypedResults.Ok(new SchoolDetailsView(urn, localAuthority, now));
    }
}
