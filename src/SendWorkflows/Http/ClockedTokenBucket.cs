using System.Threading.RateLimiting;

namespace SendWorkflows.Http;

/// <summary>
/// A token bucket that reads time from a <see cref="TimeProvider"/>. The framework's
/// <see cref="TokenBucketRateLimiter"/> replenishes from a timer of its own (or from whoever calls
/// <c>TryReplenish</c>, which the partitioned limiter does on a real-time heartbeat), so its tokens
/// follow the machine's clock, not the app's. This one works out on every request how many whole
/// periods have passed since it last replenished and adds their tokens then: no timer, and a test's
/// manual clock decides. Requests never queue: without a token, the answer is no, with how long to wait.
/// </summary>
public sealed class ClockedTokenBucket(TimeProvider clock, int tokenLimit, int tokensPerPeriod, TimeSpan replenishmentPeriod) : RateLimiter
{
    private readonly Lock _lock = new();
    private long _tokens = tokenLimit;
    private DateTimeOffset _replenishedAt = clock.GetUtcNow();
    private DateTimeOffset _fullSince = clock.GetUtcNow();

    private static readonly RateLimitLease Granted = new Lease(true, null);

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                // Only a full bucket is idle: forgetting it and starting a new (full) one changes nothing.
                Replenish();
                return _tokens >= tokenLimit ? clock.GetUtcNow() - _fullSince : null;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            Replenish();
            return new RateLimiterStatistics { CurrentAvailablePermits = _tokens };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, tokenLimit);
        lock (_lock)
        {
            Replenish();
            if (_tokens >= Math.Max(permitCount, 1))
            {
                _tokens -= permitCount;
                return Granted;
            }

            // Whole periods until enough tokens are back, less the part of this period already gone.
            var missing = Math.Max(permitCount, 1) - _tokens;
            var periods = (missing + tokensPerPeriod - 1) / tokensPerPeriod;
            var wait = replenishmentPeriod * periods - (clock.GetUtcNow() - _replenishedAt);
            return new Lease(false, wait);
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(permitCount));

    private void Replenish()
    {
        var now = clock.GetUtcNow();
        if (now < _replenishedAt || _tokens >= tokenLimit)
        {
            // A full bucket gains nothing, and its next period starts when a token is taken; a clock
            // that went back counts from where it is now.
            _replenishedAt = now;
            return;
        }

        var periods = (now - _replenishedAt).Ticks / replenishmentPeriod.Ticks;
        var toFill = (tokenLimit - _tokens + tokensPerPeriod - 1) / tokensPerPeriod;
        if (periods >= toFill)
        {
            _tokens = tokenLimit;
            _fullSince = _replenishedAt + replenishmentPeriod * toFill;
            _replenishedAt = now;
        }
        else if (periods > 0)
        {
            _tokens += periods * tokensPerPeriod;
            _replenishedAt += replenishmentPeriod * periods;
        }
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (retryAfter is { } wait && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = wait;
                return true;
            }

            metadata = null;
            return false;
        }
    }
}
