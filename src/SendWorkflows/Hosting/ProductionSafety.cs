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
        var storage = configuration["Storage:Provider"] ?? "sqlite";
        if (storage.Equals("sqlite", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add("Storage:Provider is sqlite: a single file on one machine loses everything when that machine goes. Set it to postgres, with Storage:ConnectionString.");
        }

        if (string.IsNullOrWhiteSpace(configuration["Certificates:SigningKey"]))
        {
            problems.Add("Certificates:SigningKey is not set: a generated key differs on each instance and is lost with the machine, so download links would stop working. Set a secret of at least 32 characters.");
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

        var transport = configuration["Email:Transport"] ?? "outbox";
        if (transport.Equals("outbox", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add("Email:Transport is outbox: emails would be written to a folder and never sent. Set it to smtp or sendgrid.");
        }

        if (string.IsNullOrWhiteSpace(configuration["Auth:BootstrapAdminKey"]))
        {
            problems.Add("Auth:BootstrapAdminKey is not set: a generated admin key would be printed into the production logs. Set it from your secret store.");
        }

        return problems;
    }
}

/// <summary>Production is missing something it needs; the message lists every problem, one per line.</summary>
public sealed class UnsafeProductionConfigurationException(IReadOnlyList<string> problems)
    : Exception("SendWorkflows will not start in Production:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
