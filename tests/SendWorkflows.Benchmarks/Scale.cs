namespace SendWorkflows.Benchmarks;

/// <summary>
/// How big and how long each scenario runs. <see cref="Full"/> is DESIGN §9's national scale;
/// <see cref="Quick"/> finishes within five minutes on two cores; <see cref="Smoke"/> only proves every
/// scenario runs end to end and writes its results (the test suite uses it; its numbers mean nothing).
/// <see cref="WarmUp"/> is how long the same kind of load runs, uncounted, before each measured event
/// load: until the JIT has compiled the hot path's methods at their final tier, its background thread
/// takes up to half the service's CPU (measured on two cores: 130 ms of app CPU per 1,000 batched
/// statements in the first seconds, 60 ms once settled), which a service that runs for days pays once.
/// Start-up itself is measured by <c>cold_start</c>.
/// </summary>
public sealed record Scale(
    string Name,
    int EventPeople,
    TimeSpan WarmUp,
    TimeSpan EventDuration,
    int Connections,
    int BatchedStatements,
    int StatementsPerBatch,
    int BulkPeople,
    int AppEnrolments,
    int SweepEnrolments,
    int SweepDue,
    int QuartzReminders,
    TimeSpan CertificateDuration,
    int ChromiumRenders,
    int DownloadPeople,
    TimeSpan DownloadDuration,
    int ColdStarts,
    bool PublishPackage,
    int PgbenchScale,
    TimeSpan ReferenceDuration)
{
    public static readonly Scale Full = new("full",
        EventPeople: 2_000, WarmUp: TimeSpan.FromSeconds(10), EventDuration: TimeSpan.FromSeconds(20), Connections: 32,
        BatchedStatements: 60_000, StatementsPerBatch: 1_000,
        BulkPeople: 100_000, AppEnrolments: 1_000_000,
        SweepEnrolments: 1_000_000, SweepDue: 100_000, QuartzReminders: 5_000,
        CertificateDuration: TimeSpan.FromSeconds(10), ChromiumRenders: 10,
        DownloadPeople: 50, DownloadDuration: TimeSpan.FromSeconds(10),
        ColdStarts: 7, PublishPackage: true, PgbenchScale: 10, ReferenceDuration: TimeSpan.FromSeconds(10));

    public static readonly Scale Quick = new("quick",
        EventPeople: 1_000, WarmUp: TimeSpan.FromSeconds(5), EventDuration: TimeSpan.FromSeconds(8), Connections: 32,
        BatchedStatements: 14_000, StatementsPerBatch: 1_000,
        BulkPeople: 20_000, AppEnrolments: 100_000,
        SweepEnrolments: 100_000, SweepDue: 10_000, QuartzReminders: 1_000,
        CertificateDuration: TimeSpan.FromSeconds(5), ChromiumRenders: 3,
        DownloadPeople: 10, DownloadDuration: TimeSpan.FromSeconds(4),
        ColdStarts: 3, PublishPackage: true, PgbenchScale: 10, ReferenceDuration: TimeSpan.FromSeconds(4));

    public static readonly Scale Smoke = new("smoke",
        EventPeople: 20, WarmUp: TimeSpan.FromSeconds(0.2), EventDuration: TimeSpan.FromSeconds(0.5), Connections: 4,
        BatchedStatements: 100, StatementsPerBatch: 50,
        BulkPeople: 200, AppEnrolments: 400,
        SweepEnrolments: 200, SweepDue: 20, QuartzReminders: 10,
        CertificateDuration: TimeSpan.FromSeconds(0.3), ChromiumRenders: 1,
        DownloadPeople: 2, DownloadDuration: TimeSpan.FromSeconds(0.5),
        ColdStarts: 1, PublishPackage: false, PgbenchScale: 1, ReferenceDuration: TimeSpan.FromSeconds(0.5));
}
