using System.Diagnostics;
using System.Globalization;
using SendWorkflows.Benchmarks.Infrastructure;

namespace SendWorkflows.Benchmarks.Scenarios;

/// <summary>
/// One service process on its embedded SQLite store, driven over HTTP the way school systems drive it:
/// <c>bulk_enrol</c> (one batch of people), then enough more to reach the scale's enrolment count,
/// <c>events_http_sqlite</c> (single module completions, every one a real change), <c>events_batched</c>
/// (xAPI batches) and, at the end, the process's <c>peak_rss</c>. Its emails go to a SendGrid stand-in
/// and each measurement starts once the welcome emails have all gone, so they do not share the cores.
/// </summary>
public static class SqliteServiceScenarios
{
    public static async Task<List<BenchResult>> RunAsync(Context context)
    {
        var scale = context.Scale;
        var folder = context.Workspace.Folder("sqlite-service");
        var database = Path.Combine(folder, "data", "sendworkflows.db");
        await using var sendGrid = await SendGridStub.StartAsync();
        await using var app = await AppProcess.StartServiceAsync(folder, new Dictionary<string, string>
        {
            ["Email:Transport"] = "sendgrid",
            ["SendGrid:ApiKey"] = "bench-key",
            ["SendGrid:BaseUrl"] = sendGrid.BaseUrl.ToString(),
        });
        var results = new List<BenchResult>();

        // bulk_enrol: one batch, timed from sending it to having every id back.
        var batch = Api.EnrolmentBatch(Api.Programme, 0, scale.BulkPeople);
        var clock = Stopwatch.StartNew();
        var people = await Api.EnrolAsync(app.Client, batch);
        var bulkSeconds = clock.Elapsed.TotalSeconds;
        var perHundredThousand = bulkSeconds * 100_000 / scale.BulkPeople;
        var rawBatchedRows = RawSqlite.BatchedInsertsPerSecond(folder, scale.ReferenceDuration, 1_000);
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"bulk: {scale.BulkPeople:#,0} people ({batch.Length / 1048576.0:0.0} MB of JSON) in {bulkSeconds:0.00} s; raw SQLite {rawBatchedRows:#,0} rows/s"));
        results.Add(Metrics.BulkEnrol.Result(perHundredThousand, 100_000 / rawBatchedRows));

        // The rest of the scale's enrolments, in batches of 50,000; not timed.
        var total = scale.BulkPeople;
        while (total < scale.AppEnrolments)
        {
            var count = Math.Min(50_000, scale.AppEnrolments - total);
            await Api.EnrolAsync(app.Client, Api.EnrolmentBatch(Api.Programme, total, count));
            total += count;
        }

        context.Say($"{total:#,0} people enrolled; waiting for their welcome emails");
        await WaitForOutboxAsync(database, "sqlite");

        // events_http_sqlite
        var eventPeople = people.Take(scale.EventPeople).ToList();
        var rawSingle = RawSqlite.SingleInsertsPerSecond(folder, scale.ReferenceDuration);
        var events = await SingleEventsAsync(context, app, eventPeople, () => RawSqlite.Count(database, CompletedEvents));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"raw SQLite, one row per commit: {rawSingle:#,0}/s"));
        results.Add(Metrics.EventsHttpSqlite.Result(events, rawSingle));

        // events_batched
        var batchedPeople = people.Skip(scale.EventPeople).Take(2_000).ToList();
        var batched = await BatchedEventsAsync(context, app, batchedPeople, () => RawSqlite.Count(database, CompletedEvents));

        var peakMb = app.PeakResidentBytes() / 1048576.0;
        context.Say(string.Create(CultureInfo.InvariantCulture, $"peak RSS {peakMb:0} MB with {total:#,0} enrolments; resident now {app.ResidentBytes() / 1048576.0:0} MB"));
        results.Add(Metrics.PeakRss.Result(peakMb, context.EmptyAppPeakMb ?? await EmptyAppPeakAsync(context)));

        // The batched reference runs in the service's own file, so the service stops first.
        await app.DisposeAsync();
        var at = TimeProvider.System.GetUtcNow().AddDays(-1);
        var floor = RawSqlite.StatementBatchesPerSecond(database, batchedPeople,
            id => Api.CompletedStatementJson(id, app.BaseUrl, Api.Programme, batchedPeople[0], Api.Modules[0], at),
            scale.StatementsPerBatch, scale.ReferenceDuration);
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"raw SQLite, the same reads and writes as a batch of statements in the service's file: {floor:#,0} statements/s; events_batched is {batched / floor:0.00} of it"));
        results.Insert(results.FindIndex(r => r.Metric == Metrics.PeakRss.Name), Metrics.EventsBatched.Result(batched, floor));
        return results;
    }

    public const string CompletedEvents = "SELECT COUNT(*) FROM enrolment_events WHERE type = 'module_completed'";

    /// <summary>
    /// Single completions over HTTP from <see cref="Scale.Connections"/> workers, each for its own share
    /// of the people, every completion a millisecond earlier than that worker's last, so every request
    /// is a new event that changes state and is written durably. The same load runs uncounted for
    /// <see cref="Scale.WarmUp"/> first, an hour later in the people's history, so the measured
    /// completions still each change something; <paramref name="settle"/>, if given, runs between the two.
    /// Returns events stored per second, and fails if the stored events do not match the acknowledged requests.
    /// </summary>
    public static async Task<double> SingleEventsAsync(Context context, AppProcess app, List<Guid> people, Func<long> countStored,
        Func<Task>? settle = null)
    {
        var scale = context.Scale;
        var workers = Math.Min(scale.Connections, people.Count);
        var now = TimeProvider.System.GetUtcNow();
        using var client = app.NewClient(workers);
        Func<int, long, HttpRequestMessage> Completions(DateTimeOffset start) => (worker, i) =>
        {
            var mine = (people.Count - worker + workers - 1) / workers;
            var person = people[worker + ((int)(i % mine) * workers)];
            var module = Api.Modules[(int)(i / mine % Api.Modules.Length)];
            return Api.Completion(person, module, start.AddMilliseconds(-i - 1));
        };

        var warm = await Load.RunAsync(client, workers, scale.WarmUp, Completions(now));
        if (warm.Failures > 0)
        {
            throw new InvalidOperationException($"{warm.Failures} warm-up requests failed; first failure: {warm.FirstFailure}");
        }

        await (settle?.Invoke() ?? Task.CompletedTask);
        var before = countStored();
        var load = await Load.RunAsync(client, workers, scale.EventDuration, Completions(now.AddHours(-1)));
        var stored = countStored() - before;
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"single events: {load.Requests:#,0} requests in {load.Elapsed.TotalSeconds:0.0} s, {stored:#,0} events stored, {load.Failures} failures; p50 {load.P50Ms:0.0} ms, p99 {load.P99Ms:0.0} ms"));
        if (load.Failures > 0 || stored != load.Requests)
        {
            throw new InvalidOperationException($"{load.Failures} requests failed and {stored} of {load.Requests} events were stored; first failure: {load.FirstFailure}");
        }

        return stored / load.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// xAPI batches of completed statements from two posters at once, each statement a completion one
    /// millisecond earlier than the last for its person and module, so each is a change. The same
    /// batches run uncounted for <see cref="Scale.WarmUp"/> first, an hour later in the people's
    /// history; <paramref name="settle"/>, if given, runs between the two. Returns events stored per second,
    /// and fails unless every statement became exactly one stored event.
    /// </summary>
    public static async Task<double> BatchedEventsAsync(Context context, AppProcess app, List<Guid> people, Func<long> countStored,
        Func<Task>? settle = null)
    {
        var scale = context.Scale;
        var now = TimeProvider.System.GetUtcNow();
        byte[] Batch(int first, int count, DateTimeOffset start)
        {
            using var buffer = new MemoryStream();
            using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
            {
                json.WriteStartArray();
                for (var k = first; k < first + count; k++)
                {
                    Api.WriteCompletedStatement(json, app.BaseUrl, Api.Programme, people[k % people.Count],
                        Api.Modules[k / people.Count % Api.Modules.Length], start.AddMilliseconds(-k - 1));
                }

                json.WriteEndArray();
            }

            return buffer.ToArray();
        }

        var batches = new List<byte[]>();
        for (var first = 0; first < scale.BatchedStatements; first += scale.StatementsPerBatch)
        {
            batches.Add(Batch(first, Math.Min(scale.StatementsPerBatch, scale.BatchedStatements - first), now.AddHours(-1)));
        }

        var warmUp = Stopwatch.StartNew();
        var warmBatches = 0;
        await PostConcurrentlyAsync(b => warmUp.Elapsed < scale.WarmUp ? Batch(b * scale.StatementsPerBatch, scale.StatementsPerBatch, now) : null,
            () => Interlocked.Increment(ref warmBatches));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"batched warm-up: {warmBatches} batches in {warmUp.Elapsed.TotalSeconds:0.0} s, not counted"));

        await (settle?.Invoke() ?? Task.CompletedTask);
        var before = countStored();
        var clock = Stopwatch.StartNew();
        await PostConcurrentlyAsync(b => b < batches.Count ? batches[b] : null, () => { });
        var seconds = clock.Elapsed.TotalSeconds;
        var stored = countStored() - before;
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"batched: {scale.BatchedStatements:#,0} statements in {batches.Count} batches in {seconds:0.00} s, {stored:#,0} events stored"));
        if (stored != scale.BatchedStatements)
        {
            throw new InvalidOperationException($"{stored} of {scale.BatchedStatements} statements were stored as events");
        }

        return stored / seconds;

        // Two posters take batch numbers in turn until the source gives no more.
        Task PostConcurrentlyAsync(Func<int, byte[]?> source, Action posted)
        {
            var next = -1;
            return Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            {
                while (source(Interlocked.Increment(ref next)) is { } body)
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new("application/json");
                    using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/xapi/statements", UriKind.Relative)) { Content = content };
                    request.Headers.Add("X-Experience-API-Version", "1.0.3");
                    using var answer = await app.Client.SendAsync(request);
                    if (!answer.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"an xAPI batch answered {(int)answer.StatusCode}: {Api.Clip(await answer.Content.ReadAsStringAsync())}");
                    }

                    posted();
                }
            })));
        }
    }

    /// <summary>Waits until nothing is pending in the outbox (the welcome emails have gone), within ten minutes.</summary>
    public static async Task WaitForOutboxAsync(string database, string store, Postgres? server = null, string? postgresDatabase = null)
    {
        const string Pending = "SELECT COUNT(*) FROM outbox WHERE status = 'pending'";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            var pending = store == "sqlite" ? RawSqlite.Count(database, Pending) : await server!.ScalarAsync(postgresDatabase!, Pending);
            if (pending == 0)
            {
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("the outbox did not empty within ten minutes");
    }

    private static async Task<double> EmptyAppPeakAsync(Context context)
    {
        await using var empty = await AppProcess.StartEmptyWebAppAsync(context.Workspace.Folder("empty-app"));
        return empty.PeakResidentBytes() / 1048576.0;
    }
}
