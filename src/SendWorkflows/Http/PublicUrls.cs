namespace SendWorkflows.Http;

/// <summary>
/// Absolute links for API responses and emails, from <c>PublicBaseUrl</c> when it is configured and
/// otherwise from the request the app is answering.
/// </summary>
public sealed class PublicUrls(IConfiguration configuration)
{
    // Settings are read once at start-up (they are not watched), so the configured base is too:
    // every email links to it, and reading configuration takes a lock.
    private readonly string? _configured = string.IsNullOrWhiteSpace(configuration["PublicBaseUrl"]) ? null : configuration["PublicBaseUrl"]!.TrimEnd('/');
    private string? _listening;

    public string BaseFor(HttpRequest? request)
    {
        if (_configured is not null)
        {
            return _configured;
        }

        if (request is not null)
        {
            return $"{request.Scheme}://{request.Host}{request.PathBase}";
        }

        // Work done away from a request (emails, certificates) links to where the service listens.
        return _listening ??= (configuration["Urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "http://localhost:5080").TrimEnd('/');
    }

    public string EnrolmentStatus(HttpRequest? request, Guid id) => $"{BaseFor(request)}/api/v1/enrolments/{id}";
}
