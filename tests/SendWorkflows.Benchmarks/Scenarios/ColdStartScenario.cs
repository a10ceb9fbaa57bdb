using System.Globalization;
using SendWorkflows.Benchmarks.Infrastructure;

namespace SendWorkflows.Benchmarks.Scenarios;

/// <summary>
/// <c>cold_start</c>: from starting the process to its first <c>/healthz</c> answer, on a store that
/// already exists (the first boot, which creates it, is reported too), beside an empty ASP.NET Core
/// app started the same way. Medians of several starts, alternating the two. What starts is what is
/// deployed: the Functions package made by <c>infra/publish-functionapp.sh</c> (self-contained,
/// composite ReadyToRun), built into the workspace first, with the background loop off as the
/// deployment sets it; at smoke scale, the plain build beside the harness. The empty app runs with
/// <c>dotnet</c> from the harness's own build.
/// </summary>
public static class ColdStartScenario
{
    public static async Task<List<BenchResult>> RunAsync(Context context)
    {
        var folder = context.Workspace.Folder("cold-start");
        // As infra/main.bicep deploys it: on Functions the timer function drives the sweeps, so the
        // package runs no loop of its own (standalone, the loop's first pass shares start-up's two cores).
        var settings = new Dictionary<string, string> { ["Workflow:RunInBackground"] = "false" };
        var package = context.Scale.PublishPackage ? await PublishAsync(context) : null;
        await using (var first = await AppProcess.StartServiceAsync(folder, settings, package))
        {
            context.Say($"first boot (creating the store): {Ms(first.StartUp)} ms");
        }

        var service = new List<double>();
        var empty = new List<double>();
        var emptyPeak = new List<double>();
        for (var i = 0; i < context.Scale.ColdStarts; i++)
        {
            await using (var app = await AppProcess.StartServiceAsync(folder, settings, package))
            {
                service.Add(app.StartUp.TotalMilliseconds);
            }

            await using (var app = await AppProcess.StartEmptyWebAppAsync(context.Workspace.Folder("empty-app")))
            {
                empty.Add(app.StartUp.TotalMilliseconds);
                emptyPeak.Add(app.PeakResidentBytes() / 1048576.0);
            }
        }

        context.EmptyAppPeakMb = Median(emptyPeak);
        context.Say($"service starts: {string.Join(", ", service.Select(Ms))} ms; empty app: {string.Join(", ", empty.Select(Ms))} ms");
        return [Metrics.ColdStart.Result(Median(service), Median(empty))];
    }

    /// <summary>Runs the repository's publish script into the workspace; returns the package's executable.</summary>
    private static async Task<string> PublishAsync(Context context)
    {
        var script = Bench.RepositoryFile("infra", "publish-functionapp.sh")
                     ?? throw new InvalidOperationException("infra/publish-functionapp.sh was not found: run the harness from the repository");
        var output = context.Workspace.Folder("package");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("bash", [script, output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("bash did not start");
        var said = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"publishing the Functions package failed: {await said}{await errors}");
        }

        context.Say($"Functions package published (self-contained, composite ReadyToRun) in {clock.Elapsed.TotalSeconds:0} s");
        return Path.Combine(output, "functionapp", "SendWorkflows");
    }

    public static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Ms(TimeSpan time) => Ms(time.TotalMilliseconds);

    private static string Ms(double ms) => ms.ToString("0", CultureInfo.InvariantCulture);
}
