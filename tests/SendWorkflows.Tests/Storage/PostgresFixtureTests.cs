using System.Diagnostics;
using System.Globalization;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Storage;

/// <summary>The test fixture's own housekeeping: a test process killed mid-run leaves no server behind for good.</summary>
public sealed class PostgresFixtureTests
{
    [Fact]
    public async Task servers_left_by_dead_test_processes_are_stopped_and_removed_and_live_ones_kept()
    {
        var running = await PostgresServer.SharedAsync(); // this process's own server: its owner is alive
        var dead = Process.Start(new ProcessStartInfo("true"))!;
        await dead.WaitForExitAsync();
        var orphan = Directory.CreateTempSubdirectory("sendworkflows-pg-").FullName;
        await File.WriteAllTextAsync(Path.Combine(orphan, "owner.pid"), dead.Id.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Path.Combine(orphan, "data"));

        await PostgresServer.RemoveOrphansAsync(Path.GetDirectoryName(running.Tool("pg_ctl"))!, Environment.UserName == "root");

        Assert.False(Directory.Exists(orphan));
        Assert.True(Directory.Exists(running.Root));
        await using var connection = new Npgsql.NpgsqlConnection(running.ConnectionString("postgres"));
        await connection.OpenAsync(); // still answering
        await using var query = new Npgsql.NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await query.ExecuteScalarAsync());
    }
}
