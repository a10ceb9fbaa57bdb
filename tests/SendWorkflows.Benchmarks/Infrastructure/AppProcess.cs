using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>
/// The built service as an operating-system process (<c>dotnet SendWorkflows.dll</c>, the Release build
/// beside the harness) on a loopback port, configured through its command line as a deployment would
/// be. Also runs the harness itself in its empty-web-app mode, the reference for start-up and memory.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Process, byte> Running = new();

    static AppProcess()
    {
        // A harness stopped with Ctrl+C or an exception still leaves no service running.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in Running.Keys)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            }
        };
    }

    private readonly Process _process;
    private bool _disposed;
    private readonly List<string> _output = [];
    private readonly string _logPath;

    private AppProcess(Process process, Uri baseUrl, string adminKey, string logPath)
    {
        _process = process;
        BaseUrl = baseUrl;
        AdminKey = adminKey;
        _logPath = logPath;
        Client = NewClient(64);
    }

    public Uri BaseUrl { get; }

    public string AdminKey { get; }

    /// <summary>A client that authenticates as the admin key.</summary>
    public HttpClient Client { get; }

    /// <summary>From starting the process to its first healthy answer.</summary>
    public TimeSpan StartUp { get; private set; }

    public int ProcessId => _process.Id;

    public HttpClient NewClient(int connections)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = BaseUrl,
            Timeout = TimeSpan.FromMinutes(10),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    /// <summary>Starts the service with these settings (<c>Key:Sub=value</c>) in its own folder, and waits until it answers <c>/healthz</c>.</summary>
    /// <param name="executable">A published self-contained service to run instead of the build beside the harness.</param>
    public static Task<AppProcess> StartServiceAsync(string folder, IReadOnlyDictionary<string, string> settings, string? executable = null)
    {
        var adminKey = "bench-admin-" + Guid.NewGuid().ToString("N");
        var port = Workspace.FreePort();
        var url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var all = new Dictionary<string, string>(settings)
        {
            ["Auth:BootstrapAdminKey"] = adminKey,
            ["PublicBaseUrl"] = url.ToString().TrimEnd('/'),
        };
        all.TryAdd("Logging:LogLevel:Default", "Warning");
        // The harness drives the service with one admin key at thousands of requests a second, more
        // than one school system's key is allowed by default (5,000/s sustained). The limiter stays on,
        // so its cost is in every measured request, with a bucket no scenario can empty.
        all.TryAdd("RateLimits:TokenLimit", "100000000");
        all.TryAdd("RateLimits:TokensPerPeriod", "100000000");
        var arguments = executable is null
            ? new List<string> { "dotnet", Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll") }
            : [executable];
        arguments.AddRange(["--urls", url.ToString()]);
        arguments.AddRange(all.Select(s => $"--{s.Key}={s.Value}"));
        return StartAsync(folder, arguments, url, adminKey);
    }

    /// <summary>An ASP.NET Core app with one route and nothing else (this harness, in its <c>--empty-web-app</c> mode).</summary>
    public static Task<AppProcess> StartEmptyWebAppAsync(string folder)
    {
        var port = Workspace.FreePort();
        var url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var harness = Path.Combine(AppContext.BaseDirectory, "SendWorkflows.Benchmarks.dll");
        return StartAsync(folder, ["dotnet", harness, EmptyWebApp.Flag, "--urls", url.ToString()], url, "none");
    }

    private static async Task<AppProcess> StartAsync(string folder, List<string> arguments, Uri url, string adminKey)
    {
        var start = new ProcessStartInfo(arguments[0], arguments.Skip(1))
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var clock = Stopwatch.StartNew();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{arguments[0]} did not start");
        Running.TryAdd(process, 0);
        var app = new AppProcess(process, url, adminKey, Path.Combine(folder, "app.log"));
        process.OutputDataReceived += (_, e) => app.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => app.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        while (clock.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the service exited with {process.ExitCode} while starting:\n{app.Tail()}");
            }

            try
            {
                using var answer = await probe.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (answer.IsSuccessStatusCode)
                {
                    app.StartUp = clock.Elapsed;
                    return app;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(5);
        }

        await app.DisposeAsync();
        throw new TimeoutException($"the service did not answer /healthz within 90 s:\n{app.Tail()}");
    }

    /// <summary>The most memory the process has held resident so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes() => ProcStatus("VmHWM:");

    /// <summary>Memory resident now (VmRSS), in bytes.</summary>
    public long ResidentBytes() => ProcStatus("VmRSS:");

    private long ProcStatus(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id.ToString(CultureInfo.InvariantCulture)}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var kb = line[field.Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"/proc has no {field} for the service");
    }

    /// <summary>CPU time the process has used so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
            if (_output.Count > 400)
            {
                _output.RemoveRange(0, 200);
            }
        }
    }

    public string Tail()
    {
        lock (_output)
        {
            return string.Join('\n', _output.TakeLast(40));
        }
    }

    /// <summary>Stops the process (killed, as a crash would); a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        lock (_output)
        {
            File.WriteAllLines(_logPath, _output);
        }

        Running.TryRemove(_process, out _);
        _process.Dispose();
    }
}
