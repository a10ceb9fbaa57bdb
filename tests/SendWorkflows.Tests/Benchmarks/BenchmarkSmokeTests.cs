using System.Globalization;
using System.Text.Json;
using SendWorkflows.Benchmarks;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Benchmarks;

/// <summary>
/// The benchmark harness itself: every scenario runs end to end at a tiny scale (real service
/// processes, a real PostgreSQL, Quartz, headless Chromium) and the results file comes out complete
/// and well-formed. Nothing here judges speed: the numbers of a tiny run mean nothing.
/// </summary>
public sealed class BenchmarkSmokeTests
{
    private static readonly string[] FixedMetrics =
    [
        "events_http_sqlite", "events_postgres", "events_batched", "bulk_enrol", "sweep_due", "sweep_idle",
        "certificates", "certificate_download_p99", "nudges_to_sendgrid", "peak_rss", "cold_start",
    ];

    [Fact]
    public async Task every_scenario_runs_at_a_tiny_scale_and_writes_a_complete_results_file()
    {
        ExternalTool.Require("chromium", "chromium");
        if (SendWorkflows.Benchmarks.Infrastructure.Postgres.FindBinaries() is null)
        {
            ExternalTool.Require("pgbench", "postgresql");
        }

        var folder = Directory.CreateTempSubdirectory("sendworkflows-bench-smoke-").FullName;
        try
        {
            var printed = new StringWriter(CultureInfo.InvariantCulture);
            var exit = await Bench.RunAsync(["--smoke", "--out", folder], printed);
            var said = printed.ToString();
            Assert.True(exit == 0, said);

            using var results = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "results.json")));
            var rows = results.RootElement.EnumerateArray().ToList();
            Assert.Equal(FixedMetrics.Order(), rows.Select(r => r.GetProperty("metric").GetString()!).Intersect(FixedMetrics).Order());
            foreach (var row in rows)
            {
                var metric = row.GetProperty("metric").GetString();
                Assert.Equal(
                    ["metric", "value", "unit", "reference", "referenceValue", "ratio", "target", "pass"],
                    row.EnumerateObject().Select(p => p.Name));
                var value = row.GetProperty("value").GetDouble();
                var reference = row.GetProperty("referenceValue").GetDouble();
                Assert.True(value > 0 && reference > 0, $"{metric}: {row}");
                Assert.False(string.IsNullOrWhiteSpace(row.GetProperty("unit").GetString()), $"{metric}: {row}");
                Assert.False(string.IsNullOrWhiteSpace(row.GetProperty("reference").GetString()), $"{metric}: {row}");
                Assert.Equal(value / reference, row.GetProperty("ratio").GetDouble(), 0.01 * Math.Max(1, value / reference));
                Assert.Matches("^[≥≤] ", row.GetProperty("target").GetString()!);
                Assert.Contains(row.GetProperty("pass").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
                Assert.Contains($"| `{metric}` |", said);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(3_100, null, true)]
    [InlineData(2_900, null, false)]
    public void an_absolute_floor_is_met_only_at_or_above_it(double value, double? ratio, bool met) =>
        Assert.Equal(met, Target.AtLeast(3_000).IsMet(value, ratio));

    [Theory]
    [InlineData(19.9, true)]
    [InlineData(20.1, false)]
    public void a_ceiling_is_met_only_at_or_below_it(double value, bool met) =>
        Assert.Equal(met, Target.AtMost(20).IsMet(value, null));

    [Theory]
    [InlineData(0.85, true)]
    [InlineData(0.75, false)]
    public void a_ratio_target_judges_the_ratio_not_the_value(double ratio, bool met) =>
        Assert.Equal(met, Target.RatioAtLeast(0.8).IsMet(100_000, ratio));

    [Fact]
    public void a_ratio_target_without_a_reference_is_not_met() =>
        Assert.False(BenchResult.Of("events_postgres", 2_000, "events/s", "pgbench", null, Target.RatioAtLeast(0.8)).Pass);
}
