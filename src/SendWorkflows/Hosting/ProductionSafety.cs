namespace SendWorkflows.Hosting;

/// <summary>
/// What Production must have. Each problem is one sentence saying what is wrong and what to set;
/// the app refuses to start while any remain, rather than running with data that would be lost or
/// links that would break.
/// </summary>
public static class ProductionSafety
{
    /// <summary>The settings a Production deployment must set (the Bicep in infra/ sets each one).</summary>
    public static readonly IReadOnlyList<string> RequiredSettings =
    [
        "Storage:Provider",
        "Storage:ConnectionString",
        "Email:Transport",
        "Certificates:SigningKey",
        "PublicBaseUrl",
        "Auth:BootstrapAdminKey",
    ];

    public static IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var problems = new List<string>();

        // A Key Vault reference that App Service could not resolve arrives as its literal text; used
        // as a key it would be a secret anyone who can read the app settings knows.
        foreach (var key in RequiredSettings)
        {
            if (configuration[key]?.StartsWith("@Microsoft.KeyVault(", StringComparison.OrdinalIgnoreCase) == true)
            {
                problems.Add($"{key} is an unresolved Key Vault reference: check the app's identity may read the vault's secrets.");
            }
        }

        Choice(problems, "Storage:Provider", configuration["Storage:Provider"] ?? "sqlite", AppSetup.StoreProviders, "sqlite",
            "Storage:Provider is sqlite: a single file on one machine loses everything when that machine goes. Set it to postgres, with Storage:ConnectionString.");

        var signingKey = configuration["Certificates:SigningKey"];
        if (string.IsNullOrWhiteSpace(signingKey))
        {
            problems.Add("Certificates:SigningKey is not set: a generated key differs on each instance and is lost with the machine, so download links would stop working. Set a secret of at least 32 characters.");
        }
        else if (signingKey.Length < 32)
        {
            problems.Add("Certificates:SigningKey is shorter than 32 characters.");
        }

        var publicBaseUrl = configuration["PublicBaseUrl"];
        if (string.IsNullOrWhiteSpace(publicBaseUrl))
        {
            problems.Add("PublicBaseUrl is not set: emails and certificates would link to an internal address. Set it to the public https address of the service.");
        }
        else if (!Uri.TryCreate(publicBaseUrl, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            problems.Add($"PublicBaseUrl '{publicBaseUrl}' is not an absolute https address; links printed on certificates must be.");
        }

        Choice(problems, "Email:Transport", configuration["Email:Transport"] ?? "outbox", AppSetup.EmailTransports, "outbox",
            "Email:Transport is outbox: emails would be written to a folder and never sent. Set it to smtp or sendgrid.");

        var adminKey = configuration["Auth:BootstrapAdminKey"];
        if (string.IsNullOrWhiteSpace(adminKey))
        {
            problems.Add("Auth:BootstrapAdminKey is not set: a generated admin key would be printed into the production logs. Set it from your secret store.");
        }
        else if (adminKey.Length < 24)
        {
            problems.Add("Auth:BootstrapAdminKey is shorter than 24 characters.");
        }

        return problems;
    }

    /// <summary>A setting that names an implementation: refused if it is the development one, or one this build does not have.</summary>
    private static void Choice(List<string> problems, string key, string value, IReadOnlyList<string> available, string developmentOnly, string whyNotDevelopment)
    {
        if (value.Equals(developmentOnly, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add(whyNotDevelopment);
        }
        else if (!available.Contains(value, StringComparer.OrdinalIgnoreCase))
        {
            problems.Add($"{key} '{value}' is not available in this build (it has: {string.Join(", ", available)}).");
        }
    }
}

/// <summary>Production is missing something it needs; the message lists every problem, one per line.</summary>
public sealed class UnsafeProductionConfigurationException(IReadOnlyList<string> problems)
    : Exception("SendWorkflows will not start in Production:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
