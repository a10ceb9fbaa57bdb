namespace SendWorkflows.Benchmarks;

/// <summary>A metric: its fixed name (results are compared over time by it), unit, reference and target.</summary>
public sealed record Metric(string Name, string Unit, string Reference, Target Target)
{
    public BenchResult Result(double value, double? referenceValue) =>
        BenchResult.Of(Name, value, Unit, Reference, referenceValue, Target);

    public BenchResult Failed() => BenchResult.Failed(Name, Unit, Reference, Target);
}

/// <summary>Every metric, with the targets of DESIGN §9 and the issues that set the others.</summary>
public static class Metrics
{
    public static readonly Metric EventsHttpSqlite = new("events_http_sqlite", "events/s",
        "raw SQLite insert loop, one row per commit (WAL, synchronous=NORMAL)", Target.AtLeast(3_000));

    public static readonly Metric EventsPostgres = new("events_postgres", "events/s",
        "pgbench -N on the same server (tps, mean of a run before and after)", Target.RatioAtLeast(0.8));

    public static readonly Metric EventsBatched = new("events_batched", "events/s",
        "raw SQLite doing the same reads and writes per statement in the service's file, one commit per batch", Target.AtLeast(20_000));

    public static readonly Metric EventsBatchedPostgres = new("events_batched_postgres", "events/s",
        "pgbench -N on the same server (tps)", Target.AtLeast(10_000));

    public static readonly Metric BulkEnrol = new("bulk_enrol", "s per 100,000 people",
        "raw SQLite insert loop, 1,000 rows per commit (s per 100,000 rows)", Target.AtMost(20));

    public static readonly Metric SweepDue = new("sweep_due", "s per 100,000 due",
        "Quartz.NET 3, ADO.NET job store on SQLite, firing the same reminders (s per 100,000)", Target.AtMost(30));

    public static readonly Metric SweepIdle = new("sweep_idle", "ms",
        "one indexed \"anything due?\" query on the same database", Target.AtMost(10));

    public static readonly Metric Certificates = new("certificates", "PDFs/s per core",
        "headless Chromium --print-to-pdf of the same certificate as HTML", Target.AtLeast(400));

    public static readonly Metric CertificateDownloadP99 = new("certificate_download_p99", "ms",
        "GET /healthz p99 at the same concurrency", Target.AtMost(50));

    public static readonly Metric NudgesToSendGrid = new("nudges_to_sendgrid", "s per 100,000",
        "the same request bodies posted straight to the SendGrid stand-in", Target.AtMost(10));

    public static readonly Metric PeakRss = new("peak_rss", "MB",
        "an empty ASP.NET Core app after start-up", Target.AtMost(300));

    public static readonly Metric ColdStart = new("cold_start", "ms",
        "an empty ASP.NET Core app (process start to first /healthz)", Target.AtMost(400));
}
