namespace SendWorkflows.Http;

/// <summary>
/// Absolute links for API responses and emails, from <c>PublicBaseUrl</c> when it is configured and
/// otherwise from the request the app is answering.
/// </summary>
public sealed class PublicUrls(IConfiguration configuration)
{
    public string BaseFor(HttpRequest? request)
    {
        var configured = configuration["PublicBaseUrl"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.TrimEnd('/');
        }

        if (request is not null)
        {
            return $"{request.Scheme}://{request.Host}{request.PathBase}";
        }

        // Work done away from a request (emails, certificates) links to where the service listens.
        var listening = configuration["Urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return (listening ?? "http://localhost:5080").TrimEnd('/');
    }

    public string EnrolmentStatus(HttpRequest? request, Guid id) => $"{BaseFor(request)}/api/v1/enrolments/{id}";
}
