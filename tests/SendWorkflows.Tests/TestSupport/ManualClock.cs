namespace SendWorkflows.Tests.TestSupport;

/// <summary>A clock the test moves by hand. Everything in the app reads time from it.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;
    private readonly Lock _lock = new();

    public static readonly DateTimeOffset Monday9am = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    public ManualClock() : this(Monday9am)
    {
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _now += by;
        }
    }

    public void Set(DateTimeOffset now)
    {
        lock (_lock)
        {
            _now = now;
        }
    }
}
