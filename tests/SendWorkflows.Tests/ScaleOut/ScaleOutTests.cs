using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SendWorkflows.Tests.ScaleOut;

/// <summary>
/// Three instances of the service, as separate processes, share one PostgreSQL database: the due
/// timers and the outbox are shared work, claimed under leases, and every person still gets each
/// email once.
/// </summary>
[Collection(nameof(ScaleOutCluster))]
public sealed class ScaleOutTests
{
    public const int People = 1000;

    /// <summary>
    /// Short ticks and leases so a test runs in seconds; a tick's budget stays under the lease, so a
    /// live instance always finishes with what it claimed before anyone else may claim it.
    /// </summary>
    public static Dictionary<string, string?> FastSettings(int outboxBatch) => new(StringComparer.Ordinal)
    {
        ["Workflow:TickInterval"] = "00:00:01",
        ["Workflow:TickBudget"] = "00:00:04",
        ["Workflow:TimerLease"] = "00:00:10",
        ["Workflow:SweepBatchSize"] = "100",
        ["Outbox:Lease"] = "00:00:10",
        ["Outbox:BatchSize"] = outboxBatch.ToString(CultureInfo.InvariantCulture),
        ["Outbox:RetryBaseDelay"] = "00:00:01",
        ["Outbox:RetryMaxDelay"] = "00:00:05",
    };

    /// <summary>Two required modules and no live session, so modules alone complete it; a not-started nudge after seconds, never repeated, at any hour.</summary>
    public static JsonObject Programme(string id, string notStartedAfter) => new()
    {
        ["id"] = id,
        ["title"] = "Scale-out programme",
        ["issuer"] = "Test issuer",
        ["modules"] = new JsonArray(
            new JsonObject { ["id"] = "m1", ["title"] = "Module one", ["cpdMinutes"] = 30, ["required"] = true },
            new JsonObject { ["id"] = "m2", ["title"] = "Module two", ["cpdMinutes"] = 45, ["required"] = true }),
        ["liveSessionsRequired"] = 0,
        ["completionWindow"] = "P30D",
        ["nudges"] = new JsonObject { ["notStartedAfter"] = notStartedAfter, ["maxRepeats"] = 0 },
        ["certificate"] = new JsonObject { ["title"] = "Certificate of completion", ["signatory"] = "Programme Director", ["linkValidity"] = "P30D" },
    };

    public static object Person(string programme, int n) => new
    {
        programmeId = programme,
        schoolUrn = (100001 + (n % 10)).ToString(CultureInfo.InvariantCulture),
        staff = new
        {
            externalId = $"P-{n:D5}",
            givenName = "Person",
            familyName = $"Number {n}",
            email = $"person{n}@school.example.org",
            role = "teacher",
        },
    };

    public static List<string> Ids(JsonElement batch) =>
        batch.GetProperty("results").EnumerateArray().Select(r =>
        {
            Assert.True(r.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String, $"a batch row was refused: {r}");
            return id.GetString()!;
        }).ToList();

    /// <summary>Enrolments whose timer is due now and that no instance has fired.</summary>
    public const string DueTimers = "SELECT count(*) FROM enrolments WHERE next_wake_at <= $1";

    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task three_instances_share_the_work_and_everyone_gets_one_welcome_and_one_not_started_nudge()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var cluster = await ScaleOutCluster.StartAsync(3, FastSettings(outboxBatch: 100));
        await cluster.PublishAsync(Programme("scale-out", notStartedAfter: "PT20S"));

        // The people arrive as three batches, one through each instance, at the same time.
        var people = Enumerable.Range(0, People).Select(n => Person("scale-out", n)).ToList();
        var chunks = people.Chunk((People + 2) / 3).ToList();
        var answers = await Task.WhenAll(chunks.Select(async (chunk, i) =>
        {
            using var admin = cluster.Admin(i);
            using var response = await admin.PostAsJsonAsync("/api/v1/enrolments/batch", chunk);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"batch through instance {i + 1}: {(int)response.StatusCode} {body}");
            return Ids(ScaleOutCluster.Json(body));
        }));
        var enrolments = answers.SelectMany(a => a).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(People, enrolments.Count);

        int Distinct(string template) => cluster.Deliveries().Where(d => d.Template == template).Select(d => d.Enrolment).Distinct().Count();
        await cluster.WaitUntilAsync("a welcome and a not-started nudge for everyone",
            () => Task.FromResult(Distinct("welcome") >= People && Distinct("not-started") >= People), TimeSpan.FromMinutes(3));

        // Then until nothing is left to do, and a few more ticks of every instance, so a late duplicate would show.
        await cluster.WaitUntilAsync("an empty outbox and no due timer", async () =>
                await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0 &&
                await cluster.ScalarAsync(DueTimers, NowMs()) == 0,
            TimeSpan.FromMinutes(1));
        await Task.Delay(TimeSpan.FromSeconds(4));

        var deliveries = cluster.Deliveries();
        var perInstance = deliveries.GroupBy(d => d.Instance).OrderBy(g => g.Key)
            .Select(g => $"instance-{g.Key + 1}: {g.Count(d => d.Template == "welcome")} welcome, {g.Count(d => d.Template == "not-started")} not-started")
            .ToList();
        output?.WriteLine($"{deliveries.Count} emails; {string.Join("; ", perInstance)}");
        foreach (var failure in cluster.Failures().Take(50))
        {
            output?.WriteLine(failure);
        }

        Assert.Empty(cluster.SendGridViolations());
        Assert.All(deliveries, d => Assert.Contains(d.Enrolment, enrolments));
        var byPerson = deliveries.GroupBy(d => (d.Enrolment, d.Template)).ToDictionary(g => g.Key, g => g.Count());
        var wrong = enrolments
            .SelectMany(e => new[] { "welcome", "not-started" }.Select(t => (e, t, n: byPerson.GetValueOrDefault((e, t)))))
            .Where(x => x.n != 1).ToList();
        Assert.True(wrong.Count == 0,
            $"{wrong.Count} (enrolment, template) pairs were not sent exactly once, e.g. {string.Join(", ", wrong.Take(5).Select(x => $"{x.e} {x.t} ×{x.n}"))}");
        Assert.Equal(2 * People, deliveries.Count);

        // Shared: more than one instance sent email. Each instance has its own SendGrid stand-in, so this is what each one really sent.
        Assert.True(deliveries.Select(d => d.Instance).Distinct().Count() > 1, $"one instance did all the work: {string.Join("; ", perInstance)}");

        Assert.Equal(0, await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status <> 'sent'"));
        Assert.Equal(2L * People, await cluster.ScalarAsync("SELECT count(*) FROM outbox WHERE status = 'sent'"));
    }

    /// <summary>
    /// A deployment starts its instances at the same moment. Each must come up: migrations are applied
    /// once, and the configured admin key is stored once, however the first starts interleave.
    /// </summary>
    [Fact]
    public async Task three_instances_starting_together_on_a_fresh_database_all_come_up_on_one_schema()
    {
        await using var cluster = await ScaleOutCluster.StartAsync(3, FastSettings(outboxBatch: 100), allTogether: true);

        // Each answers with the same programme and the same admin key: one bootstrap, one set of migrations.
        foreach (var i in Enumerable.Range(0, 3))
        {
            using var admin = cluster.Admin(i);
            using var response = await admin.GetAsync("/api/v1/programmes/send-inclusion-core");
            Assert.True(response.IsSuccessStatusCode, $"instance {i + 1}: {(int)response.StatusCode}\n{cluster.Output()}");
        }

        Assert.Equal(1, await cluster.ScalarAsync("SELECT count(*) FROM programmes WHERE id = 'send-inclusion-core'"));
        Assert.Equal(1, await cluster.ScalarAsync("SELECT count(*) FROM api_clients"));
    }
}
