using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.ScaleOut;

/// <summary>
/// One instance of the built service as a real operating-system process (<c>dotnet SendWorkflows.dll</c>)
/// on its own loopback port, configured through the command line the way a deployment configures it.
/// It can be killed with SIGKILL at any moment and started again on the same port and settings.
/// Every process it starts is killed when it is disposed, or when the test process exits, so a
/// failing test leaves nothing running.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<AppProcess, byte> Running = new();

    static AppProcess()
    {
        // The last line of defence: a test that never reaches its dispose still leaves no orphans.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var app in Running.Keys)
            {
                app.KillNow();
            }
        };
    }

    /// <summary>Output kept per process for failure messages: the newest lines, and every warning or error.</summary>
    private const int KeptLines = 400;

    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly string _workingDirectory;
    private readonly Lock _output = new();
    private readonly Queue<string> _recent = new();
    private readonly List<string> _problems = [];
    private bool _continuing;
    private readonly Lock _lock = new();
    private Process? _process;
    private int _runs;
    private bool _disposed;

    private AppProcess(string name, IReadOnlyDictionary<string, string?> settings)
    {
        Name = name;
        _settings = settings;
        Port = Repository.FreePort();
        BaseUrl = new Uri($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}");
        _workingDirectory = Directory.CreateTempSubdirectory($"sendworkflows-{name}-").FullName;
    }

    public string Name { get; }
    public int Port { get; }
    public Uri BaseUrl { get; }

    /// <summary>How many times this instance was killed.</summary>
    public int Kills { get; private set; }

    public bool IsRunning
    {
        get
        {
            lock (_lock)
            {
                return _process is { HasExited: false };
            }
        }
    }

    /// <summary>Starts the instance and returns once it answers <c>/healthz</c>.</summary>
    public static async Task<AppProcess> StartAsync(string name, IReadOnlyDictionary<string, string?> settings)
    {
        var app = new AppProcess(name, settings);
        try
        {
            await app.StartAsync();
            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public async Task StartAsync()
    {
        var run = Interlocked.Increment(ref _runs);
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll"), .. Arguments()])
        {
            WorkingDirectory = _workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment =
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Development",
                ["DOTNET_ENVIRONMENT"] = "Development",
                // No console colours or launch profile noise in the captured output.
                ["DOTNET_NOLOGO"] = "1",
                ["Logging__Console__DisableColors"] = "true",
            },
        };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Keep(run, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(run, e.Data);
        lock (_lock)
        {
            // A test that failed may still have a task restarting instances: once disposed, nothing starts again.
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_process is { HasExited: false })
            {
                throw new InvalidOperationException($"{Name} is already running.");
            }

            _process?.Dispose();
            process.Start();
            _process = process;
            Running[this] = 0;
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await WaitUntilAnsweringAsync(process);
    }

    private IEnumerable<string> Arguments()
    {
        yield return $"--Urls={BaseUrl}";
        foreach (var (key, value) in _settings)
        {
            if (value is not null)
            {
                yield return $"--{key}={value}";
            }
        }
    }

    private async Task WaitUntilAnsweringAsync(Process process)
    {
        using var http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(5) };
        // A guard against an instance that never comes up, not a measure of start-up time.
        var guard = Stopwatch.StartNew();
        while (guard.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {process.ExitCode} before answering.\n{Output()}");
            }

            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{Name} did not answer /healthz within 90 s.\n{Output()}");
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing, the process is simply gone, as when a machine dies.</summary>
    public async Task KillAsync()
    {
        Process? process;
        lock (_lock)
        {
            process = _process;
        }

        if (process is null || process.HasExited)
        {
            return;
        }

        KillNow();
        Kills++;
        Keep(_runs, "==> killed with SIGKILL");
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(guard.Token);
    }

    public async Task RestartAsync()
    {
        await KillAsync();
        await StartAsync();
    }

    private void KillNow()
    {
        lock (_lock)
        {
            try
            {
                // Process.Kill sends SIGKILL on Unix.
                if (_process is { HasExited: false } p)
                {
                    p.Kill();
                }
            }
            catch (InvalidOperationException)
            {
                // It exited on its own in the meantime.
            }
        }
    }

    public HttpClient Client(string apiKey, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = BaseUrl, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    private void Keep(int run, string? line)
    {
        if (line is null)
        {
            return;
        }

        var kept = $"[{Name} run {run.ToString(CultureInfo.InvariantCulture)}] {line}";
        lock (_output)
        {
            _recent.Enqueue(kept);
            if (_recent.Count > KeptLines)
            {
                _recent.Dequeue();
            }

            // The console logger writes "fail: Category[id]" and then the message, indented, on the lines after it.
            if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal) ||
                line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("==>", StringComparison.Ordinal) ||
                line.StartsWith("Unhandled exception", StringComparison.Ordinal))
            {
                _problems.Add(kept);
                _continuing = true;
            }
            else if (_continuing && line.StartsWith(' '))
            {
                _problems[^1] += "\n" + line;
            }
            else
            {
                _continuing = false;
            }

            if (_problems.Count > KeptLines)
            {
                _problems.RemoveAt(0);
            }
        }
    }

    /// <summary>What the process wrote: warnings and errors of every run, then its newest lines.</summary>
    public string Output()
    {
        lock (_output)
        {
            return $"--- {Name}: warnings and errors ---\n{string.Join('\n', _problems)}\n--- {Name}: newest output ---\n{string.Join('\n', _recent)}";
        }
    }

    /// <summary>Errors any run logged (<c>fail:</c>, <c>crit:</c>), each with its message.</summary>
    public IReadOnlyList<string> Failures()
    {
        lock (_output)
        {
            return _problems.Where(l => l.Contains("] fail:", StringComparison.Ordinal) || l.Contains("] crit:", StringComparison.Ordinal)).ToList();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Process? process;
        lock (_lock)
        {
            _disposed = true;
            process = _process;
        }

        KillNow();
        if (process is not null)
        {
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(guard.Token);
            }
            catch (OperationCanceledException)
            {
            }

            process.Dispose();
        }

        Running.TryRemove(this, out _);
        try
        {
            Directory.Delete(_workingDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
