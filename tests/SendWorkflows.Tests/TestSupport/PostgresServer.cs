using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// A real PostgreSQL server for the tests: a throwaway cluster made with the machine's own
/// <c>initdb</c> in a temporary folder and started with <c>pg_ctl</c> on a free loopback port, once
/// per test process, and stopped and deleted when the process ends. PostgreSQL refuses to run as
/// root, so when the tests run as root the cluster belongs to the <c>postgres</c> user.
/// </summary>
/// <remarks>
/// The cluster trades durability for speed (<c>fsync=off</c>): it holds test data only, and the
/// crash tests kill app processes, never the server. Each test gets its own database.
/// </remarks>
public sealed class PostgresServer
{
    private static readonly SemaphoreSlim Starting = new(1, 1);
    private static PostgresServer? _shared;

    private readonly string _dataDirectory;
    private readonly string _binDirectory;
    private readonly bool _asPostgresUser;

    private PostgresServer(string root, string binDirectory, bool asPostgresUser, int port)
    {
        Root = root;
        _dataDirectory = Path.Combine(root, "data");
        _binDirectory = binDirectory;
        _asPostgresUser = asPostgresUser;
        Port = port;
    }

    /// <summary>The folder the cluster lives in (data, socket and log).</summary>
    public string Root { get; }

    public int Port { get; }

    /// <summary>Where the server's own tools are (pgbench among them).</summary>
    public string Tool(string name) => Path.Combine(_binDirectory, name);

    /// <summary>The process-wide server, started on first use.</summary>
    public static async Task<PostgresServer> SharedAsync()
    {
        if (_shared is { } running)
        {
            return running;
        }

        await Starting.WaitAsync();
        try
        {
            _shared ??= await StartAsync();
            return _shared;
        }
        finally
        {
            Starting.Release();
        }
    }

    /// <summary>
    /// The folder holding initdb, pg_ctl and postgres: the first on PATH, else the newest Debian
    /// install under /usr/lib/postgresql. Outside CI a machine without them skips the test.
    /// </summary>
    private static string FindBinaries()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")));
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            : null;
        if ((onPath ?? debian) is { } found)
        {
            return found;
        }

        ExternalTool.Require("initdb", "postgresql");
        throw new InvalidOperationException("unreachable: Require fails or skips");
    }

    private static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries();
        var asPostgresUser = Environment.UserName == "root";
        await RemoveOrphansAsync(bin, asPostgresUser);
        var root = Directory.CreateTempSubdirectory(FolderPrefix).FullName;
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        var port = Repository.FreePort();
        var server = new PostgresServer(root, bin, asPostgresUser, port);
        if (asPostgresUser)
        {
            await RunAsync("chown", "postgres", root);
        }

        await server.RunAsServerUserAsync("initdb", "-D", server._dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync");
        var options = string.Join(' ',
            $"-p {port}", $"-k {root}", "-c listen_addresses=127.0.0.1", "-c fsync=off", "-c full_page_writes=off",
            "-c synchronous_commit=off", "-c max_connections=500", "-c shared_buffers=128MB");
        await server.RunAsServerUserAsync("pg_ctl", "-D", server._dataDirectory, "-o", options, "-l", Path.Combine(root, "server.log"), "-w", "start");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Stop();
        return server;
    }

    private const string FolderPrefix = "sendworkflows-pg-";
    private const string OwnerFile = "owner.pid";

    /// <summary>
    /// Stops and deletes the servers of test processes that died without stopping them (killed, or
    /// cut off by a timeout): a process-exit handler does not run then, and each would keep its
    /// server, port and folder until the machine restarts.
    /// </summary>
    public static async Task RemoveOrphansAsync(string binDirectory, bool asPostgresUser)
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            var owner = Path.Combine(folder, OwnerFile);
            var alive = File.Exists(owner)
                ? int.TryParse(await File.ReadAllTextAsync(owner), CultureInfo.InvariantCulture, out var pid) && IsRunning(pid)
                // No owner yet: another test process may be creating it this moment; only an old one is left over.
                : DateTime.UtcNow - Directory.GetLastWriteTimeUtc(folder) < TimeSpan.FromMinutes(10);
            if (alive)
            {
                continue;
            }

            if (File.Exists(Path.Combine(folder, "data", "postmaster.pid")))
            {
                var orphan = new PostgresServer(folder, binDirectory, asPostgresUser, port: 0);
                try
                {
                    await orphan.RunAsServerUserAsync("pg_ctl", "-D", orphan._dataDirectory, "-m", "immediate", "-w", "stop");
                }
                catch (InvalidOperationException)
                {
                    // Not running after all (a stale pid file): nothing to stop.
                }
            }

            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another test process is starting in it this moment, or it is not ours to remove.
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Stops the server at once and deletes its folder.</summary>
    private void Stop()
    {
        try
        {
            RunAsServerUserAsync("pg_ctl", "-D", _dataDirectory, "-m", "immediate", "-w", "stop").GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // Stopping is best effort at process exit; the folder goes either way.
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public string ConnectionString(string database, int maxPoolSize = 20) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = database,
            MaxPoolSize = maxPoolSize,
            // Pooled connections to a test database are closed soon after its test, so it can be dropped.
            ConnectionIdleLifetime = 5,
            // Npgsql refuses an idle lifetime shorter than the pruning interval (10 s by default).
            ConnectionPruningInterval = 1,
        }.ConnectionString;

    /// <summary>Creates the database if it does not exist yet and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name, int maxPoolSize = 20)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres", 2));
        await connection.OpenAsync();
        await using var exists = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", connection)
        {
            Parameters = { new NpgsqlParameter { Value = name } },
        };
        if (!(bool)(await exists.ExecuteScalarAsync())!)
        {
            try
            {
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
                await create.ExecuteNonQueryAsync();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Another test made it at the same moment.
            }
        }

        return ConnectionString(name, maxPoolSize);
    }

    /// <summary>A new database with a unique name.</summary>
    public Task<string> CreateDatabaseAsync() =>
        CreateDatabaseAsync("t" + Guid.NewGuid().ToString("N"));

    /// <summary>Drops the database, closing whatever is still connected to it.</summary>
    public async Task DropDatabaseAsync(string name)
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(ConnectionString("postgres", 2));
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }

    private Task RunAsServerUserAsync(string tool, params string[] arguments) =>
        _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", Tool(tool), .. arguments])
            : RunAsync(Tool(tool), arguments);

    private static async Task RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // A guard against a hung tool, not a measure of speed.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(guard.Token);
        if (process.ExitCode != 0)
        {
            var said = await errors + await output;
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {said}"));
        }
    }
}
