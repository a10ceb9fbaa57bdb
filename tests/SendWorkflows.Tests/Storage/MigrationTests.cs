using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Storage;

public sealed class MigrationTests
{
    /// <summary>A new SQLite file in a folder of its own, migrated this many times.</summary>
    private static async Task<(string Dir, string Db)> MigratedFileAsync(int times)
    {
        var dir = Directory.CreateTempSubdirectory("sendworkflows-migrate-").FullName;
        var db = Path.Combine(dir, "store.db");
        await using var store = new SqliteStore($"Data Source={db}");
        for (var i = 0; i < times; i++)
        {
            await store.MigrateAsync(CancellationToken.None);
        }

        return (dir, db);
    }

    [Fact]
    public async Task migrating_twice_applies_each_migration_once()
    {
        var (dir, db) = await MigratedFileAsync(times: 2);
        var expected = MigrationScripts.For("sqlite").Count();
        Assert.True(expected >= 1);
        Assert.Equal(expected, SqliteFile.Long(db, "SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal("wal", SqliteFile.Text(db, "PRAGMA journal_mode"));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task stored_xapi_statements_are_indexed_only_by_their_id_which_is_how_they_are_looked_up()
    {
        var (dir, db) = await MigratedFileAsync(times: 1);
        // Every index is written for every statement stored; only the primary key's is ever read.
        Assert.Equal("sqlite_autoindex_xapi_statements_1",
            SqliteFile.Text(db, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'xapi_statements'"));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task the_migrate_command_creates_the_schema_and_exits()
    {
        var dir = Directory.CreateTempSubdirectory("sendworkflows-migrate-").FullName;
        var app = Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll");
        var start = new ProcessStartInfo("dotnet", [app, "migrate"])
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["Storage__ConnectionString"] = "Data Source=data/cli.db", ["ASPNETCORE_ENVIRONMENT"] = "Development" },
        };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);

        Assert.True(process.ExitCode == 0, output + errors);
        Assert.Contains("Migrations applied.", output, StringComparison.Ordinal);
        var db = Path.Combine(dir, "data", "cli.db");
        Assert.Equal(1, SqliteFile.Long(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'enrolments'"));
        SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }
}
