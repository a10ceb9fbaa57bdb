using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using SendWorkflows.Hosting;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

public sealed class ProductionSafetyTests
{
    private static IConfiguration Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static readonly Dictionary<string, string?> Complete = new()
    {
        ["Storage:Provider"] = "postgres",
        ["Storage:ConnectionString"] = "Host=db;Database=sendworkflows",
        ["Email:Transport"] = "sendgrid",
        ["Certificates:SigningKey"] = "a-signing-key-of-at-least-32-characters",
        ["PublicBaseUrl"] = "https://send.example.org",
        ["Auth:BootstrapAdminKey"] = "an-admin-key-of-at-least-24-chars",
    };

    [Fact]
    public void a_complete_production_configuration_on_postgres_is_accepted()
    {
        Assert.Empty(ProductionSafety.Problems(Config(Complete)));
    }

    [Fact]
    public void a_store_this_build_does_not_have_is_refused_by_name()
    {
        var problems = ProductionSafety.Problems(Config(new Dictionary<string, string?>(Complete) { ["Storage:Provider"] = "oracle" }));
        Assert.StartsWith("Storage:Provider 'oracle' is not available in this build", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Storage:Provider", "sqlite", "Storage:Provider is sqlite")]
    [InlineData("Certificates:SigningKey", null, "Certificates:SigningKey is not set")]
    [InlineData("Certificates:SigningKey", "short", "Certificates:SigningKey is shorter than 32 characters")]
    [InlineData("PublicBaseUrl", null, "PublicBaseUrl is not set")]
    [InlineData("PublicBaseUrl", "http://send.example.org", "is not an absolute https address")]
    [InlineData("Email:Transport", "outbox", "Email:Transport is outbox")]
    [InlineData("Email:Transport", "carrier-pigeon", "Email:Transport 'carrier-pigeon' is not available in this build")]
    [InlineData("Auth:BootstrapAdminKey", null, "Auth:BootstrapAdminKey is not set")]
    [InlineData("Auth:BootstrapAdminKey", "short", "Auth:BootstrapAdminKey is shorter than 24 characters")]
    [InlineData("Certificates:SigningKey", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/certificate-signing-key)",
        "Certificates:SigningKey is an unresolved Key Vault reference")]
    public void each_unsafe_setting_is_one_clear_problem(string key, string? value, string expected)
    {
        var baseline = ProductionSafety.Problems(Config(Complete));
        var settings = new Dictionary<string, string?>(Complete) { [key] = value };
        var problems = ProductionSafety.Problems(Config(settings));
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
        Assert.True(problems.Count <= baseline.Count + 1, string.Join("\n", problems));
    }

    [Fact]
    public async Task production_on_the_development_defaults_refuses_to_start_and_says_why()
    {
        var dir = Directory.CreateTempSubdirectory("sendworkflows-production-").FullName;
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll")])
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["Urls"] = $"http://127.0.0.1:{Repository.FreePort()}" },
        };
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        var exited = process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        await exited;

        Assert.Equal(78, process.ExitCode);
        var message = await errors;
        foreach (var expected in new[]
                 {
                     "Storage:Provider is sqlite", "Certificates:SigningKey is not set", "PublicBaseUrl is not set",
                     "Email:Transport is outbox", "Auth:BootstrapAdminKey is not set",
                 })
        {
            Assert.Contains(expected, message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("   at ", message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir, "data")), "nothing may be created before refusing");
    }
}
