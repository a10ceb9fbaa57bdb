using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL server for one run: the machine's own <c>initdb</c> into the workspace and
/// <c>pg_ctl</c> on a free loopback port, with the server's default durability (fsync on, synchronous
/// commit), because what is measured is durable transactions. PostgreSQL refuses to run as root, so as
/// root the cluster belongs to the <c>postgres</c> user. Stopped when disposed.
/// </summary>
public sealed partial class Postgres : IAsyncDisposable
{
    private readonly string _root;
    private readonly string _bin;
    private readonly bool _asPostgresUser;

    private Postgres(string root, string bin, bool asPostgresUser, int port)
    {
        _root = root;
        _bin = bin;
        _asPostgresUser = asPostgresUser;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_root, "data");

    /// <summary>The folder of the machine's PostgreSQL binaries, or null when there are none.</summary>
    public static string? FindBinaries()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pgbench")));
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pgbench")))
                .OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            : null;
        return onPath ?? debian;
    }

    /// <summary>Starts a server in a folder of its own (not the workspace: as root, the postgres user must be able to reach it).</summary>
    public static async Task<Postgres> StartAsync()
    {
        var folder = Directory.CreateTempSubdirectory("sendworkflows-bench-pg-").FullName;
        var bin = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL's server binaries (initdb, pg_ctl, pgbench) were not found; install the Debian package postgresql");
        var asPostgresUser = Environment.UserName == "root";
        if (asPostgresUser)
        {
            await RunAsync("chown", ["postgres", folder]);
        }

        var server = new Postgres(folder, bin, asPostgresUser, Workspace.FreePort());
        await server.RunToolAsync("initdb", "-D", server.DataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync");
        var options = string.Join(' ', $"-p {server.Port.ToString(CultureInfo.InvariantCulture)}", $"-k {folder}",
            "-c listen_addresses=127.0.0.1", "-c max_connections=200", "-c shared_buffers=256MB");
        await server.RunToolAsync("pg_ctl", "-D", server.DataDirectory, "-o", options, "-l", Path.Combine(folder, "server.log"), "-w", "start");
        return server;
    }

    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database }.ConnectionString;

    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async Task<long> ScalarAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// <c>VACUUM (ANALYZE)</c> of a whole database, as pgbench does to its own tables before each run: a
    /// measurement starts without the dead row versions the load before it left for autovacuum.
    /// </summary>
    public async Task VacuumAsync(string database)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("VACUUM (ANALYZE)", connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }

    /// <summary><c>pgbench -i</c>: the standard tables at this scale, in their own database.</summary>
    public async Task InitialisePgbenchAsync(string database, int scale)
    {
        await CreateDatabaseAsync(database);
        await RunToolAsync("pgbench", "-i", "-q", "-s", scale.ToString(CultureInfo.InvariantCulture), "-h", "127.0.0.1",
            "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", database);
    }

    /// <summary>
    /// <c>pgbench -N</c> (the simple-update script: one durable transaction of three statements per
    /// round) for this long; returns its transactions per second.
    /// </summary>
    public async Task<double> PgbenchAsync(string database, int clients, TimeSpan duration)
    {
        var seconds = Math.Max(1, (int)Math.Round(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var output = await RunToolAsync("pgbench", "-N", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", seconds,
            "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", database);
        var tps = TpsLine().Match(output);
        return tps.Success
            ? double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException("pgbench printed no tps line:\n" + output);
    }

    [GeneratedRegex(@"tps = ([0-9.]+)")]
    private static partial Regex TpsLine();

    private Task<string> RunToolAsync(string tool, params string[] arguments) =>
        _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. arguments])
            : RunAsync(Path.Combine(_bin, tool), arguments);

    private static async Task<string> RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(guard.Token);
        var said = await output + await errors;
        return process.ExitCode == 0
            ? said
            : throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {said}");
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await RunToolAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
