using System.Text.Json;
using System.Text.RegularExpressions;
using SendWorkflows.Hosting;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Infra;

/// <summary>
/// Text-level checks of infra/main.bicep (no Bicep compiler is available here): every setting
/// Production requires is set, secrets come from Key Vault, and the timer and time budget agree
/// with host.json.
/// </summary>
public sealed partial class MainBicepTests
{
    private static readonly string Bicep = File.ReadAllText(Repository.File("infra", "main.bicep"));

    [GeneratedRegex(@"\{\s*name:\s*'(?<name>[^']+)',\s*value:\s*(?<value>[^}]+?)\s*\}")]
    private static partial Regex AppSetting();

    private static Dictionary<string, string> AppSettings() =>
        AppSetting().Matches(Bicep).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value, StringComparer.Ordinal);

    [Fact]
    public void every_setting_production_requires_is_among_the_app_settings()
    {
        var settings = AppSettings();
        foreach (var key in ProductionSafety.RequiredSettings)
        {
            Assert.True(settings.ContainsKey(key.Replace(":", "__", StringComparison.Ordinal)), $"main.bicep does not set {key}");
        }

        Assert.Equal("'Production'", settings["ASPNETCORE_ENVIRONMENT"]);
        Assert.Equal("'postgres'", settings["Storage__Provider"]);
        Assert.NotEqual("'outbox'", settings["Email__Transport"]);
        Assert.Equal("'false'", settings["Workflow__RunInBackground"]);
    }

    [Fact]
    public void secrets_are_key_vault_references_and_the_parameters_file_holds_none()
    {
        var settings = AppSettings();
        foreach (var secret in new[] { "Storage__ConnectionString", "SendGrid__ApiKey", "Certificates__SigningKey", "Auth__BootstrapAdminKey" })
        {
            Assert.StartsWith("'@Microsoft.KeyVault(SecretUri=", settings[secret], StringComparison.Ordinal);
        }

        foreach (var line in File.ReadAllLines(Repository.File("infra", "main.bicepparam")).Where(l => l.StartsWith("param ", StringComparison.Ordinal)))
        {
            Assert.Contains("readEnvironmentVariable(", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void the_tick_runs_on_a_six_field_schedule_within_the_function_timeout()
    {
        var settings = AppSettings();
        Assert.Equal("tickSchedule", settings["TICK_SCHEDULE"]);
        var schedule = Regex.Match(Bicep, @"param tickSchedule string = '(?<cron>[^']+)'").Groups["cron"].Value;
        Assert.Equal(6, schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);

        using var host = JsonDocument.Parse(File.ReadAllText(Repository.File("host.json")));
        var timeout = TimeSpan.Parse(host.RootElement.GetProperty("functionTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var budget = TimeSpan.Parse(settings["Workflow__TickBudget"].Trim('\''), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(budget < timeout, $"the tick budget {budget} must be below the function timeout {timeout}");
    }

    [Fact]
    public void the_function_app_runs_the_custom_handler_on_flex_consumption_with_its_own_identity()
    {
        Assert.Contains("tier: 'FlexConsumption'", Bicep, StringComparison.Ordinal);
        Assert.Contains("runtime: { name: 'custom', version: '1.0' }", Bicep, StringComparison.Ordinal);
        Assert.Contains("identity: { type: 'SystemAssigned' }", Bicep, StringComparison.Ordinal);
        Assert.Matches(@"output appUrl string", Bicep);
    }
}
