using SendWorkflows.Storage;

namespace SendWorkflows.Clients;

/// <summary>
/// The first admin key: taken from <c>Auth:BootstrapAdminKey</c> when configured, otherwise
/// generated on first start and printed once to the console (never to the log).
/// </summary>
public static class BootstrapAdmin
{
    public static async Task EnsureAsync(IWorkflowStore store, TimeProvider clock, IConfiguration configuration, TextWriter console, CancellationToken ct)
    {
        var configured = configuration["Auth:BootstrapAdminKey"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (configured.Length < 24)
            {
                throw new InvalidOperationException("Auth:BootstrapAdminKey must be at least 24 characters long.");
            }

            if (await store.FindClientByKeyHashAsync(ApiKeys.Hash(configured), ct) is null)
            {
                await ClientEndpoints.CreateClientAsync(store, clock, "bootstrap admin", [Scopes.Admin], ct, configured);
            }

            return;
        }

        if (await store.AnyAdminClientAsync(ct))
        {
            return;
        }

        var (_, key) = await ClientEndpoints.CreateClientAsync(store, clock, "bootstrap admin", [Scopes.Admin], ct);
        await console.WriteLineAsync(
            $"""

             ==> No admin API key existed, so one was created. It is shown only this once:

                 {key}

                 Use it as 'Authorization: Bearer <key>'. To choose your own, set Auth:BootstrapAdminKey.

             """);
    }
}
