using System.Globalization;
using SendWorkflows.Benchmarks.Infrastructure;

namespace SendWorkflows.Benchmarks.Scenarios;

/// <summary>
/// <c>events_postgres</c> and <c>events_batched_postgres</c>: the service on a throwaway PostgreSQL with
/// the server's default durability, beside <c>pgbench -N</c> against the same server in the same minutes
/// (one run before the service's load and one after; the reference is their mean). As pgbench vacuums
/// its tables before it runs, the service's database is vacuumed after each warm-up, before each
/// measured load.
/// </summary>
public static class PostgresServiceScenarios
{
    public static async Task<List<BenchResult>> RunAsync(Context context)
    {
        var scale = context.Scale;
        await using var server = await Postgres.StartAsync();
        await server.InitialisePgbenchAsync("pgbench", scale.PgbenchScale);
        var connectionString = await server.CreateDatabaseAsync("sendworkflows");
        await using var sendGrid = await SendGridStub.StartAsync();
        await using var app = await AppProcess.StartServiceAsync(context.Workspace.Folder("postgres-service"), new Dictionary<string, string>
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = connectionString,
            ["Email:Transport"] = "sendgrid",
            ["SendGrid:ApiKey"] = "bench-key",
            ["SendGrid:BaseUrl"] = sendGrid.BaseUrl.ToString(),
        });
        var people = await Api.EnrolManyAsync(app.Client, Api.Programme, 0, scale.EventPeople + 2_000, 10_000);
        await SqliteServiceScenarios.WaitForOutboxAsync("", "postgres", server, "sendworkflows");
        long Stored() => server.ScalarAsync("sendworkflows", SqliteServiceScenarios.CompletedEvents).GetAwaiter().GetResult();
        Task Vacuum() => server.VacuumAsync("sendworkflows");

        // pgbench's usual shape for two cores: 4 clients, 2 threads.
        var before = await server.PgbenchAsync("pgbench", 4, scale.EventDuration);
        var events = await SqliteServiceScenarios.SingleEventsAsync(context, app, people.Take(scale.EventPeople).ToList(), Stored, Vacuum);
        var after = await server.PgbenchAsync("pgbench", 4, scale.EventDuration);
        var pgbench = (before + after) / 2;
        context.Say(string.Create(CultureInfo.InvariantCulture, $"pgbench -N: {before:#,0} tps before, {after:#,0} after"));

        var batched = await SqliteServiceScenarios.BatchedEventsAsync(context, app, people.Skip(scale.EventPeople).ToList(), Stored, Vacuum);
        return
        [
            Metrics.EventsPostgres.Result(events, pgbench),
            Metrics.EventsBatchedPostgres.Result(batched, pgbench),
        ];
    }
}
