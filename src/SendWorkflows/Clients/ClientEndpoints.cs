using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Http;
using SendWorkflows.Storage;

namespace SendWorkflows.Clients;

/// <summary>API clients and their keys (admin only).</summary>
public static class ClientEndpoints
{
    public sealed record CreateClientRequest(string? Name, List<string?>? Scopes);

    public sealed record CreatedClient(Guid Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, string Key);

    public static RouteGroupBuilder MapClients(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/clients").WithTags("Clients");
        group.MapPost("/", CreateAsync)
            .Accepts<CreateClientRequest>("application/json")
            .WithMetadata(new SensitiveResponseAttribute())
            .WithSummary("Create an API client; its key is shown only in this response.");
        group.MapDelete("/{id}", RevokeAsync).WithSummary("Revoke an API client's key.");
        return group;
    }

    private static async Task<Results<Created<CreatedClient>, ProblemHttpResult>> CreateAsync(
        HttpContext http, IWorkflowStore store, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can create API clients.");
        }

        var (body, problem) = await JsonBody.ReadAsync<CreateClientRequest>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        var name = body!.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 100)
        {
            errors.Add("name", "is required, at most 100 characters.");
        }

        var scopes = new List<string>();
        if (body.Scopes is null || body.Scopes.Count == 0)
        {
            errors.Add("scopes", "must list at least one scope: admin, lms, sessions or school:<URN>.");
        }
        else
        {
            for (var i = 0; i < body.Scopes.Count; i++)
            {
                var scope = body.Scopes[i]?.Trim();
                if (scope is null || !Scopes.IsValid(scope))
                {
                    errors.Add($"scopes[{i}]", $"'{scope}' is not a scope: use admin, lms, sessions or school:<URN> (six digits, EY and six digits, or an eight-digit UKPRN).");
                }
                else if (!scopes.Contains(scope))
                {
                    scopes.Add(scope);
                }
            }
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var (client, key) = await CreateClientAsync(store, clock, name!, scopes, ct);
        return TypedResults.Created($"/api/v1/clients/{client.Id}",
            new CreatedClient(client.Id, client.Name, client.Scopes, client.CreatedAt, key));
    }

    public static async Task<(ApiClient Client, string Key)> CreateClientAsync(
        IWorkflowStore store, TimeProvider clock, string name, IReadOnlyList<string> scopes, CancellationToken ct, string? key = null)
    {
        key ??= ApiKeys.Generate();
        var now = clock.GetUtcNow();
        var client = new ApiClient(Guid.CreateVersion7(now), name, scopes, now, null);
        await using var tx = await store.BeginAsync(ct);
        await tx.InsertClientAsync(client, ApiKeys.Hash(key));
        await tx.CommitAsync();
        return (client, key);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(
        string id, HttpContext http, IWorkflowStore store, ApiKeyCache cache, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can revoke API clients.");
        }

        if (!Guid.TryParse(id, out var clientId))
        {
            return Problems.NotFound("API client", "id", id);
        }

        await using var tx = await store.BeginAsync(ct);
        var revoked = await tx.RevokeClientAsync(clientId, clock.GetUtcNow());
        await tx.CommitAsync();
        cache.ForgetClient(clientId);
        return revoked ? TypedResults.NoContent() : Problems.NotFound("active API client", "id", id);
    }
}
