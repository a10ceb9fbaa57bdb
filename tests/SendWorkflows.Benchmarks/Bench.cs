using System.Diagnostics;
using System.Globalization;
using SendWorkflows.Benchmarks.Infrastructure;
using SendWorkflows.Benchmarks.Scenarios;

namespace SendWorkflows.Benchmarks;

/// <summary>
/// Runs every scenario, each beside its reference, and writes <c>artifacts/bench/results.json</c> and a
/// Markdown table. Usage: <c>dotnet run -c Release --project tests/SendWorkflows.Benchmarks [-- --quick]
/// [--out DIR] [--only metric,…]</c>.
/// </summary>
public static class Bench
{
    /// <summary>A group of metrics measured together, because they share a running service or server.</summary>
    private sealed record Group(string Name, Metric[] Metrics, Func<Context, Task<List<BenchResult>>> Run);

    private static readonly Group[] Groups =
    [
        new("start-up", [Metrics.ColdStart], ColdStartScenario.RunAsync),
        new("certificates", [Metrics.Certificates, Metrics.CertificateDownloadP99], CertificateScenarios.RunAsync),
        new("timers", [Metrics.SweepDue, Metrics.SweepIdle, Metrics.NudgesToSendGrid], SweepScenarios.RunAsync),
        new("service on SQLite", [Metrics.BulkEnrol, Metrics.EventsHttpSqlite, Metrics.EventsBatched, Metrics.PeakRss], SqliteServiceScenarios.RunAsync),
        new("service on PostgreSQL", [Metrics.EventsPostgres, Metrics.EventsBatchedPostgres], PostgresServiceScenarios.RunAsync),
    ];

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var scale = args.Contains("--smoke") ? Scale.Smoke : args.Contains("--quick") ? Scale.Quick : Scale.Full;
        var outDirectory = Option(args, "--out") ?? Path.Combine(RepositoryRoot() ?? Directory.GetCurrentDirectory(), "artifacts", "bench");
        var only = Option(args, "--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (args.Contains("--help"))
        {
            await output.WriteLineAsync("dotnet run -c Release --project tests/SendWorkflows.Benchmarks [-- --quick | --smoke] [--out DIR] [--only metric,…]");
            return 0;
        }

        var clock = Stopwatch.StartNew();
        using var workspace = new Workspace();
        var context = new Context(scale, workspace, output);
        var results = new List<BenchResult>();
        var failed = 0;
        await output.WriteLineAsync($"SendWorkflows benchmark, {scale.Name} scale, {Environment.ProcessorCount} cores, {TimeProvider.System.GetUtcNow():yyyy-MM-dd HH:mm} UTC");
        foreach (var group in Groups.Where(g => only is null || g.Metrics.Any(m => only.Contains(m.Name))))
        {
            await output.WriteLineAsync($"== {group.Name}");
            try
            {
                var measured = await group.Run(context);
                results.AddRange(measured.Where(r => only is null || only.Contains(r.Metric)));
            }
            catch (Exception e)
            {
                failed++;
                await output.WriteLineAsync($"!! {group.Name} failed: {e}");
                results.AddRange(group.Metrics.Where(m => only is null || only.Contains(m.Name)).Select(m => m.Failed()));
            }
        }

        var path = Path.Combine(outDirectory, "results.json");
        await ResultsFile.WriteAsync(path, results);
        await output.WriteLineAsync();
        await output.WriteAsync(ResultsFile.Markdown(results));
        await output.WriteLineAsync();
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{results.Count(r => r.Pass)} of {results.Count} targets met; {scale.Name} run took {clock.Elapsed.TotalSeconds:0} s; results in {path}"));
        return failed == 0 ? 0 : 1;
    }

    private static string? Option(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    /// <summary>A file of the repository the harness is run from, or null outside one.</summary>
    public static string? RepositoryFile(params string[] parts) =>
        RepositoryRoot() is { } root && Path.Combine([root, .. parts]) is var path && File.Exists(path) ? path : null;

    private static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SendWorkflows.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}

/// <summary>What every scenario gets: the scale, a workspace and somewhere to say what it is doing.</summary>
public sealed class Context(Scale scale, Workspace workspace, TextWriter writer)
{
    public Scale Scale { get; } = scale;

    public Workspace Workspace { get; } = workspace;

    /// <summary>The empty app's peak memory once measured (start-up measures it; peak_rss compares with it).</summary>
    public double? EmptyAppPeakMb { get; set; }

    private readonly TextWriter _output = TextWriter.Synchronized(writer);

    public void Say(string line) => _output.WriteLine("   " + line);
}
