using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using SendWorkflows.Clients;

namespace SendWorkflows.Http;

/// <summary><c>RateLimits:*</c>: one token bucket per API key.</summary>
public sealed class RateLimitOptions
{
    /// <summary>The most requests a key can make at once, after a quiet spell.</summary>
    public int TokenLimit { get; set; } = 10_000;

    /// <summary>Requests given back to a key every <see cref="ReplenishmentPeriod"/>: its sustained rate.</summary>
    public int TokensPerPeriod { get; set; } = 5_000;

    public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Off only where something in front of the service limits callers instead.</summary>
    public bool Enabled { get; set; } = true;

    public bool IsValid => TokenLimit >= 1 && TokensPerPeriod >= 1 && TokensPerPeriod <= TokenLimit && ReplenishmentPeriod > TimeSpan.Zero;
}

/// <summary>
/// Requests with an API key are limited per key (per API client), each key with its own bucket, so
/// one busy school system never slows another. Requests without a key (liveness, verification,
/// certificate downloads, preferences, <c>/tick</c>, the SendGrid webhook) are not counted here. A key
/// over its limit is answered 429, an RFC 9457 problem naming <c>Authorization</c>, with
/// <c>Retry-After</c> in seconds; time is the app's <see cref="TimeProvider"/>.
/// </summary>
public sealed class ApiKeyRateLimitPolicy(TimeProvider clock, IOptions<RateLimitOptions> options) : IRateLimiterPolicy<string>
{
    public const string Name = "per-api-key";

    private readonly RateLimitOptions _options = options.Value;

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => RejectAsync;

    public RateLimitPartition<string> GetPartition(HttpContext http)
    {
        if (!_options.Enabled || http.User.FindFirst(Caller.ClientIdClaim)?.Value is not { } clientId)
        {
            return RateLimitPartition.GetNoLimiter("");
        }

        return RateLimitPartition.Get(clientId, _ =>
            new ClockedTokenBucket(clock, _options.TokenLimit, _options.TokensPerPeriod, _options.ReplenishmentPeriod));
    }

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var errors = new FieldErrors();
        errors.Add("Authorization", $"this API key has made more requests than its limit allows; try again in {seconds} s.");
        // JSON whatever the request accepts (a caller asking for text/csv still learns why it was refused).
        await Problems.WriteAsync(http, http.RequestServices.GetRequiredService<IProblemDetailsService>(),
            new HttpValidationProblemDetails(errors.ToDictionary())
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests.",
                Detail = errors.Summary(),
            });
    }
}
