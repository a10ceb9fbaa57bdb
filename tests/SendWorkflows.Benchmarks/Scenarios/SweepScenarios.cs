using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using SendWorkflows.Benchmarks.Infrastructure;
using SendWorkflows.Benchmarks.References;
using SendWorkflows.Hosting;
using SendWorkflows.Outbox;
using SendWorkflows.Programmes;
using SendWorkflows.Workflow;

namespace SendWorkflows.Benchmarks.Scenarios;

/// <summary>
/// The timers, in-process so the clock can be moved: the service's own workflow, store and dispatcher
/// (built by the app's own setup on SQLite) with a clock the harness sets. People are enrolled in two
/// waves a day apart, so that when the clock reaches the first wave's not-started reminder exactly
/// that wave is due. <c>sweep_due</c> times sweeping them all; <c>sweep_idle</c> a sweep with nothing
/// due; <c>nudges_to_sendgrid</c> the dispatcher handing every reminder it wrote to a SendGrid stand-in.
/// </summary>
public static class SweepScenarios
{
    /// <summary>A Monday morning: a week later the first wave's reminders fall inside the delivery window.</summary>
    private static readonly DateTimeOffset FirstWave = new(2026, 11, 2, 10, 0, 0, TimeSpan.Zero);

    public static async Task<List<BenchResult>> RunAsync(Context context)
    {
        var scale = context.Scale;
        var folder = context.Workspace.Folder("timers");
        var database = Path.Combine(folder, "sendworkflows.db");
        await using var sendGrid = await SendGridStub.StartAsync();
        var clock = new SetClock(FirstWave);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = folder, EnvironmentName = "Development" });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = $"Data Source={database}",
            ["Email:Transport"] = "sendgrid",
            ["SendGrid:ApiKey"] = "bench-key",
            ["SendGrid:BaseUrl"] = sendGrid.BaseUrl.ToString(),
            ["Workflow:RunInBackground"] = "false",
            ["Auth:BootstrapAdminKey"] = "bench-admin-" + Guid.NewGuid().ToString("N"),
            ["PublicBaseUrl"] = "http://127.0.0.1",
        });
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.AddSendWorkflows();
        await using var app = builder.Build();
        await app.InitialiseAsync();
        var workflow = app.Services.GetRequiredService<EnrolmentWorkflow>();
        var dispatcher = app.Services.GetRequiredService<OutboxDispatcher>();
        var programme = await app.Services.GetRequiredService<ProgrammeCatalogue>().GetCurrentAsync(Api.Programme, CancellationToken.None)
                        ?? throw new InvalidOperationException("the bundled programme is missing");
        var batchSize = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<WorkflowOptions>>().Value.SweepBatchSize;

        // Two waves: the due ones first, the rest a day later. Their welcome emails count as sent.
        var seeding = Stopwatch.StartNew();
        await EnrolAsync(workflow, programme, 0, scale.SweepDue);
        clock.Now = FirstWave.AddDays(1);
        await EnrolAsync(workflow, programme, scale.SweepDue, scale.SweepEnrolments - scale.SweepDue);
        // All but the first few welcomes count as sent; those few are sent for real, untimed, so the
        // timed dispatch below runs warm, as in a service that has been sending (at the quick scale
        // one cold pass would otherwise be a tenth of the measurement).
        var warmUp = Math.Min(2_000, scale.SweepDue);
        Execute(database, $"UPDATE outbox SET status = 'sent', sent_at = created_at WHERE status = 'pending' AND id NOT IN (SELECT id FROM outbox WHERE status = 'pending' ORDER BY id LIMIT {warmUp})");
        var warmedUp = (await dispatcher.DrainAsync(() => true, CancellationToken.None)).Sent;
        if (warmedUp != warmUp)
        {
            throw new InvalidOperationException($"{warmedUp} of the {warmUp} welcome emails kept for the warm-up were sent");
        }

        var firstWake = Scalar(database, "SELECT MIN(next_wake_at) FROM enrolments");
        clock.Now = DateTimeOffset.FromUnixTimeMilliseconds(firstWake).AddSeconds(1);
        var due = Scalar(database, $"SELECT COUNT(*) FROM enrolments WHERE next_wake_at <= {clock.Now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}");
        context.Say($"{scale.SweepEnrolments:#,0} enrolments seeded in {seeding.Elapsed.TotalSeconds:0} s; {due:#,0} due at {clock.Now:yyyy-MM-dd HH:mm}");
        if (due != scale.SweepDue)
        {
            throw new InvalidOperationException($"{due} enrolments are due, not the {scale.SweepDue} of the first wave");
        }

        // sweep_due
        var sweep = Stopwatch.StartNew();
        var fired = 0;
        for (int batch; (batch = await workflow.FireDueTimersAsync(batchSize, CancellationToken.None)) > 0;)
        {
            fired += batch;
        }

        var sweepSeconds = sweep.Elapsed.TotalSeconds;
        var written = Scalar(database, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'");
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"sweep: {fired:#,0} timers fired, {written:#,0} reminders written in {sweepSeconds:0.00} s"));
        if (fired != scale.SweepDue || written != scale.SweepDue)
        {
            throw new InvalidOperationException($"the sweep fired {fired} timers and wrote {written} reminders for {scale.SweepDue} due");
        }

        var quartz = await QuartzReminders.RunAsync(context.Workspace.Folder("quartz"), scale.QuartzReminders);
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"Quartz.NET: {quartz.Fired:#,0} reminders scheduled in {quartz.Scheduling.TotalSeconds:0.00} s, fired in {quartz.Firing.TotalSeconds:0.00} s"));

        // sweep_idle: the whole tick (the route the Functions timer calls), with nothing due.
        var pump = app.Services.GetRequiredService<WorkflowPump>();
        var idle = new List<double>();
        var query = new List<double>();
        using (var raw = new SqliteConnection($"Data Source={database};Mode=ReadOnly"))
        {
            raw.Open();
            using var anyDue = raw.CreateCommand();
            anyDue.CommandText = "SELECT EXISTS (SELECT 1 FROM enrolments WHERE next_wake_at <= $now)";
            anyDue.Parameters.AddWithValue("$now", clock.Now.ToUnixTimeMilliseconds());
            for (var i = 0; i < 50; i++)
            {
                var t = Stopwatch.StartNew();
                anyDue.ExecuteScalar();
                query.Add(t.Elapsed.TotalMilliseconds);
            }
        }

        // The sweep's reminders go first, so the idle ticks find nothing to send either.
        var warmUpRequests = sendGrid.Requests;
        sendGrid.KeepBodies = true;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var dispatch = Stopwatch.StartNew();
        var sent = (await dispatcher.DrainAsync(() => true, CancellationToken.None)).Sent;

        var dispatchSeconds = dispatch.Elapsed.TotalSeconds;
        var dispatchCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        sendGrid.KeepBodies = false;
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"dispatch: {sent:#,0} reminders sent as {sendGrid.Requests - warmUpRequests:#,0} requests ({sendGrid.Personalizations - warmUp:#,0} recipients) in {dispatchSeconds:0.00} s ({dispatchCpu:0.00} s of CPU, the stand-in's included), after {warmUp:#,0} welcomes untimed"));
        if (sent != scale.SweepDue || sendGrid.Personalizations - warmUp != scale.SweepDue)
        {
            throw new InvalidOperationException($"{sent} reminders were sent and SendGrid received {sendGrid.Personalizations - warmUp} recipients, for {scale.SweepDue}");
        }

        var floor = await PostAgainAsync(sendGrid);
        for (var i = 0; i < 50; i++)
        {
            var t = Stopwatch.StartNew();
            var tick = await pump.RunOnceAsync(CancellationToken.None);
            idle.Add(t.Elapsed.TotalMilliseconds);
            if (tick.TimersFired + tick.EffectsSent > 0)
            {
                throw new InvalidOperationException("an idle tick found work to do");
            }
        }

        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"idle tick: median {ColdStartScenario.Median(idle):0.000} ms over {idle.Count}; the indexed query alone {ColdStartScenario.Median(query):0.000} ms"));
        var per100k = 100_000.0 / scale.SweepDue;
        return
        [
            Metrics.SweepDue.Result(sweepSeconds * per100k, quartz.Firing.TotalSeconds * 100_000 / quartz.Fired),
            Metrics.SweepIdle.Result(ColdStartScenario.Median(idle), ColdStartScenario.Median(query)),
            Metrics.NudgesToSendGrid.Result(dispatchSeconds * per100k, floor.TotalSeconds * per100k),
        ];
    }

    /// <summary>Enrols people through the workflow itself (the batch route without HTTP), in chunks of 5,000.</summary>
    private static async Task EnrolAsync(EnrolmentWorkflow workflow, ProgrammeVersion programme, int from, int count)
    {
        for (var start = from; start < from + count; start += 5_000)
        {
            var people = Enumerable.Range(start, Math.Min(5_000, from + count - start)).Select(i =>
            {
                var n = i.ToString(CultureInfo.InvariantCulture);
                var staff = new StaffMember($"T-{n}", "Bench", $"Person {n}", $"t{n}@school.example.org", StaffRole.Teacher);
                return (new EnrolmentRequest(Api.Programme, Api.School, staff), programme);
            }).ToList();
            await workflow.EnrolAsync(people, CancellationToken.None);
        }
    }

    /// <summary>The floor under the dispatcher: the very bodies it sent, posted again straight to the stand-in, one after another.</summary>
    private static async Task<TimeSpan> PostAgainAsync(SendGridStub sendGrid)
    {
        using var client = new HttpClient { BaseAddress = sendGrid.BaseUrl };
        var bodies = sendGrid.Bodies.ToArray();
        sendGrid.Bodies.Clear();
        var clock = Stopwatch.StartNew();
        foreach (var body in bodies)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            using var answer = await client.PostAsync(new Uri("/v3/mail/send", UriKind.Relative), content);
            answer.EnsureSuccessStatusCode();
        }

        return clock.Elapsed;
    }

    private static long Scalar(string database, string sql) => RawSqlite.Count(database, sql);

    private static void Execute(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>A clock the harness sets; everything else about time is the system's.</summary>
    private sealed class SetClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
