using System.Diagnostics;

namespace SendWorkflows.Benchmarks.Infrastructure;

public sealed record LoadResult(long Requests, long Failures, TimeSpan Elapsed, double P50Ms, double P99Ms, string? FirstFailure)
{
    public double PerSecond => Requests / Elapsed.TotalSeconds;
}

/// <summary>
/// Closed-loop HTTP load: a fixed number of workers, each sending its next request as soon as the last
/// was answered, for a fixed time. Every request is timed; an answer that is not a success is counted
/// as a failure (and the first one is kept to say what went wrong).
/// </summary>
public static class Load
{
    public static async Task<LoadResult> RunAsync(
        HttpClient client, int workers, TimeSpan duration, Func<int, long, HttpRequestMessage> request)
    {
        var latencies = new List<long>[workers];
        long failures = 0;
        string? firstFailure = null;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = new List<long>(4096);
            for (long i = 0; clock.Elapsed < duration; i++)
            {
                using var message = request(worker, i);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var answer = await client.SendAsync(message, HttpCompletionOption.ResponseContentRead);
                    if (!answer.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                        firstFailure ??= $"{(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}";
                    }
                }
                catch (HttpRequestException e)
                {
                    Interlocked.Increment(ref failures);
                    firstFailure ??= e.Message;
                }

                mine.Add(Stopwatch.GetTimestamp() - started);
            }
        })));
        var elapsed = clock.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new LoadResult(all.Length, failures, elapsed, Percentile(all, 0.50), Percentile(all, 0.99), firstFailure);
    }

    private static double Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)] * 1000.0 / Stopwatch.Frequency;
}
