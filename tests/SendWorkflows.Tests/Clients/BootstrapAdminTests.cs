using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using SendWorkflows.Clients;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Clients;

public sealed class BootstrapAdminTests
{
    private static IConfiguration Config(string? key) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Auth:BootstrapAdminKey"] = key }).Build();

    [Fact]
    public async Task the_first_start_prints_a_new_admin_key_once_and_it_works()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        var clock = new ManualClock();

        var console = new StringWriter();
        await BootstrapAdmin.EnsureAsync(store, clock, Config(null), console, CancellationToken.None);
        var key = Regex.Match(console.ToString(), @"swk_[A-Za-z0-9_-]{43}").Value;
        Assert.NotEmpty(key);
        var client = await store.FindClientByKeyHashAsync(ApiKeys.Hash(key), CancellationToken.None);
        Assert.Equal([Scopes.Admin], client?.Scopes);

        var again = new StringWriter();
        await BootstrapAdmin.EnsureAsync(store, clock, Config(null), again, CancellationToken.None);
        Assert.Empty(again.ToString());
    }

    [Fact]
    public async Task a_configured_key_is_installed_without_printing_anything()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        var console = new StringWriter();
        await BootstrapAdmin.EnsureAsync(store, new ManualClock(), Config("configured-admin-key-0123456789"), console, CancellationToken.None);
        await BootstrapAdmin.EnsureAsync(store, new ManualClock(), Config("configured-admin-key-0123456789"), console, CancellationToken.None);
        Assert.Empty(console.ToString());
        Assert.NotNull(await store.FindClientByKeyHashAsync(ApiKeys.Hash("configured-admin-key-0123456789"), CancellationToken.None));
    }

    [Fact]
    public async Task a_short_configured_key_stops_the_start()
    {
        await using var open = await TestStore.OpenNewAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            BootstrapAdmin.EnsureAsync(open.Store, new ManualClock(), Config("short"), new StringWriter(), CancellationToken.None));
    }
}
