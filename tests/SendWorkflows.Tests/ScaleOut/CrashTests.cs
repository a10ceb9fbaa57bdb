using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.ScaleOut;

/// <summary>
/// DESIGN §9's reliability target with three instances on one PostgreSQL: instances are killed with
/// SIGKILL while they are sending email under mixed load, and restarted. Afterwards every event the
/// service acknowledged is stored exactly once, every completed enrolment has exactly one valid
/// certificate, nothing is stuck, and everyone got their welcome.
/// </summary>
[Collection(nameof(ScaleOutCluster))]
public sealed class CrashTests
{
    private const int People = 900;
    private const int Completing = 400; // report both modules
    private const int Started = 600; // report module one
    private const int OutboxBatch = 50;
    private const int Kills = 4;

    /// <summary>A school system that retries until the service acknowledges: on another instance when one is down.</summary>
    private sealed class PatientClient(ScaleOutCluster cluster)
    {
        private readonly HttpClient[] _clients = cluster.Instances.Select(i => i.Client(ScaleOutCluster.AdminKey, TimeSpan.FromSeconds(20))).ToArray();
        public int Unanswered;

        public async Task<JsonElement> PostAsync(string path, object body, int preferred)
        {
            var started = Stopwatch.StartNew();
            for (var attempt = 0; ; attempt++)
            {
                var client = _clients[(preferred + attempt) % _clients.Length];
                try
                {
                    using var response = await client.PostAsJsonAsync(path, body);
                    var text = await response.Content.ReadAsStringAsync();
                    if (response.IsSuccessStatusCode)
                    {
                        return ScaleOutCluster.Json(text);
                    }

                    // A killed instance answers nothing (the connection drops, retried below); an instance
                    // that answers has no excuse for a 5xx or a conflict. Only a rate limit is retried.
                    Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"POST {path}: {(int)response.StatusCode} {text}");
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                Interlocked.Increment(ref Unanswered);
                // A guard against a cluster that never answers again, not a timing assertion.
                Assert.True(started.Elapsed < TimeSpan.FromMinutes(1), $"POST {path} was never acknowledged\n{cluster.Output()}");
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task instances_killed_while_sending_lose_no_acknowledged_event_and_leave_nothing_stuck()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var cluster = await ScaleOutCluster.StartAsync(3, ScaleOutTests.FastSettings(OutboxBatch));
        await cluster.PublishAsync(ScaleOutTests.Programme("crash", notStartedAfter: "PT15S"));
        var client = new PatientClient(cluster);

        // What the service acknowledged with a 2xx: enrolments, and module completions by their event key.
        var enrolled = new ConcurrentDictionary<int, string>();
        var completions = new ConcurrentBag<(string Enrolment, string EventKey)>();

        using var loadDone = new CancellationTokenSource();
        using var stop = new CancellationTokenSource();
        var killer = KillWhileSendingAsync(cluster, loadDone.Token, stop.Token);
        var clock = Stopwatch.StartNew();
        int kills;
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, People).Chunk(100).Select((chunk, i) => (chunk, i)),
                new ParallelOptions { MaxDegreeOfParallelism = 3 }, async (batch, _) =>
                {
                    var answer = await client.PostAsync("/api/v1/enrolments/batch", batch.chunk.Select(n => ScaleOutTests.Person("crash", n)).ToList(), batch.i);
                    var ids = ScaleOutTests.Ids(answer);
                    for (var k = 0; k < ids.Count; k++)
                    {
                        enrolled[batch.chunk[k]] = ids[k];
                    }
                });
            Assert.Equal(People, enrolled.Count);

            // Progress arrives over a while, so instances are killed with dispatch of welcomes, completions,
            // certificates and nudges in full swing. Each completion carries its own time, as an LMS reports it.
            var reports = Enumerable.Range(0, Started).Select(n => (n, module: "m1"))
                .Concat(Enumerable.Range(0, Completing).Select(n => (n, module: "m2")))
                .OrderBy(r => r.n * 7919 % Started).ToList();
            await Parallel.ForEachAsync(reports.Select((r, i) => (r.n, r.module, i)), new ParallelOptions { MaxDegreeOfParallelism = 3 },
                async (report, _) =>
                {
                    var id = enrolled[report.n];
                    var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000);
                    await client.PostAsync($"/api/v1/enrolments/{id}/modules/{report.module}/completion", new { completedAt = at }, report.i);
                    completions.Add((id, EventKeys.For(new ModuleCompleted(report.module, at))));
                    await Task.Delay(30);
                });
            output?.WriteLine($"load acknowledged after {clock.Elapsed.TotalSeconds:F0} s: {enrolled.Count} enrolments, {completions.Count} completions, {client.Unanswered} requests unanswered and retried");
            await loadDone.CancelAsync();
            kills = await killer;
        }
        finally
        {
            // When the load failed, the instances stop being killed and restarted before the cluster goes.
            await stop.CancelAsync();
            await Task.WhenAny(killer);
        }

        // Once quiet: leases of killed instances expire and the live ones finish the work.
        await cluster.WaitUntilAsync("an empty outbox and no due timer", async () =>
                await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0 &&
                await cluster.ScalarAsync(ScaleOutTests.DueTimers, ScaleOutTests.NowMs()) == 0,
            TimeSpan.FromMinutes(2));
        await Task.Delay(TimeSpan.FromSeconds(3));
        output?.WriteLine($"quiet after {clock.Elapsed.TotalSeconds:F0} s");
        foreach (var failure in cluster.Failures().Take(50))
        {
            output?.WriteLine(failure);
        }

        // Every acknowledged event is stored exactly once.
        var events = await cluster.RowsAsync("SELECT enrolment_id::text, event_key FROM enrolment_events", r => (r.GetString(0), r.GetString(1)));
        var stored = events.GroupBy(e => e).ToDictionary(g => g.Key, g => g.Count());
        var lost = enrolled.Values.Where(id => stored.GetValueOrDefault((id, "enrolled")) != 1)
            .Concat(completions.Where(c => stored.GetValueOrDefault(c) != 1).Select(c => $"{c.Enrolment} {c.EventKey}")).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged events are not stored exactly once, e.g. {string.Join(", ", lost.Take(5))}");

        // Everyone who reported both modules completed, and every completed enrolment has exactly one valid certificate.
        var completedIds = (await cluster.RowsAsync("SELECT id::text FROM enrolments WHERE status = 'completed'", r => r.GetString(0))).ToHashSet();
        Assert.Equal(Enumerable.Range(0, Completing).Select(n => enrolled[n]).Order(StringComparer.Ordinal), completedIds.Order(StringComparer.Ordinal));
        Assert.Equal(0, await cluster.ScalarAsync("""
            SELECT count(*) FROM enrolments e
            WHERE e.status = 'completed' AND (SELECT count(*) FROM certificates c WHERE c.enrolment_id = e.id AND c.status = 'valid') <> 1
            """));

        // Nothing is stuck: no effect pending (its lease long expired), none given up on, no timer due.
        Assert.Equal(0, await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status = 'pending'"));
        Assert.Equal(0, await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status = 'dead'"));
        Assert.Equal(0, await cluster.ScalarAsync(ScaleOutTests.DueTimers, ScaleOutTests.NowMs()));

        // Everyone got their welcome; the completed got their completion email and certificate link.
        var deliveries = cluster.Deliveries();
        Assert.Empty(cluster.SendGridViolations());
        var got = deliveries.Select(d => (d.Enrolment, d.Template)).ToHashSet();
        Assert.All(enrolled.Values, id => Assert.Contains((id, "welcome"), got));
        Assert.All(completedIds, id => Assert.Contains((id, "completion"), got));
        Assert.All(completedIds, id => Assert.Contains((id, "certificate"), got));

        // Duplicates are possible only for work in flight at a kill: emails SendGrid accepted before the
        // instance could record them as sent go again once their lease expires. An instance has at most
        // one claimed batch in flight (its pass is single-flight), so each kill can repeat at most one batch.
        var repeated = deliveries.GroupBy(d => (d.Enrolment, d.Template)).Where(g => g.Count() > 1).ToList();
        var duplicates = repeated.Sum(g => g.Count() - 1);
        output?.WriteLine($"{kills} kills; {deliveries.Count} emails ({string.Join(", ", deliveries.GroupBy(d => d.Template).Select(g => $"{g.Count()} {g.Key}"))}); " +
                          $"{duplicates} duplicates ({string.Join(", ", repeated.GroupBy(g => g.Key.Template).Select(t => $"{t.Sum(g => g.Count() - 1)} {t.Key}"))}); " +
                          $"{completedIds.Count} completed; sent per instance: " +
                          string.Join(", ", deliveries.GroupBy(d => d.Instance).OrderBy(g => g.Key).Select(g => $"instance-{g.Key + 1} {g.Count()}")));
        Assert.True(kills >= Kills, $"only {kills} kills happened");
        Assert.True(duplicates <= kills * OutboxBatch, $"{duplicates} duplicate emails after {kills} kills of batches of {OutboxBatch}");
    }

    /// <summary>
    /// Kills the instances in turn, each at a moment its SendGrid stand-in is receiving a request (so
    /// with a batch in flight), and restarts it at once; at least <see cref="Kills"/> times, and on
    /// until the load is done.
    /// </summary>
    private static async Task<int> KillWhileSendingAsync(ScaleOutCluster cluster, CancellationToken loadDone, CancellationToken stop)
    {
        var kills = 0;
        for (var target = 1; (kills < Kills || !loadDone.IsCancellationRequested) && !stop.IsCancellationRequested;
             target = (target + 1) % cluster.Instances.Count)
        {
            var sent = cluster.RequestsFrom(target);
            var waited = Stopwatch.StartNew();
            // Mid-dispatch if it comes; a kill at any other moment is as legitimate, so the wait is short.
            while (cluster.RequestsFrom(target) == sent && waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(5);
            }

            var instance = cluster.Instances[target];
            await instance.KillAsync();
            kills++;
            await Task.Delay(500, CancellationToken.None);
            if (stop.IsCancellationRequested)
            {
                break;
            }

            await instance.StartAsync();
            await Task.Delay(1000, CancellationToken.None);
        }

        return kills;
    }
}
