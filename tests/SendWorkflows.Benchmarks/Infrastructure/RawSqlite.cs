using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>
/// The embedded limit: what SQLite itself does on this machine with the durability the service uses
/// (WAL, synchronous=NORMAL), with no service around it. Rows shaped like an event: an id, a key,
/// an enrolment and a small JSON payload.
/// </summary>
public static class RawSqlite
{
    private const string Payload = """{"type":"module_completed","moduleId":"identification","completedAt":"2026-11-02T09:00:00.000Z"}""";

    /// <summary>One row per transaction, as fast as one connection can commit them: rows (transactions) per second.</summary>
    public static double SingleInsertsPerSecond(string folder, TimeSpan duration) => Run(folder, duration, rowsPerTransaction: 1);

    /// <summary>Rows per second written in transactions of this many rows (one prepared statement, reused).</summary>
    public static double BatchedInsertsPerSecond(string folder, TimeSpan duration, int rowsPerTransaction) => Run(folder, duration, rowsPerTransaction);

    private static double Run(string folder, TimeSpan duration, int rowsPerTransaction)
    {
        var path = Path.Combine(folder, $"raw-{rowsPerTransaction}-{Guid.NewGuid():N}.db");
        using var connection = new SqliteConnection($"Data Source={path};Pooling=false");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        Execute(connection, "CREATE TABLE events (id INTEGER PRIMARY KEY, enrolment_id TEXT NOT NULL, event_key TEXT NOT NULL, payload TEXT NOT NULL, UNIQUE (enrolment_id, event_key))");
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO events (enrolment_id, event_key, payload) VALUES ($e, $k, $p)";
        var enrolment = insert.Parameters.Add("$e", SqliteType.Text);
        var key = insert.Parameters.Add("$k", SqliteType.Text);
        insert.Parameters.AddWithValue("$p", Payload);
        long rows = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            using var tx = connection.BeginTransaction();
            insert.Transaction = tx;
            for (var i = 0; i < rowsPerTransaction; i++, rows++)
            {
                enrolment.Value = Guid.NewGuid().ToString();
                key.Value = "module:identification:" + rows;
                insert.ExecuteNonQuery();
            }

            tx.Commit();
        }

        var perSecond = rows / clock.Elapsed.TotalSeconds;
        connection.Close();
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(folder, Path.GetFileName(path) + "*"))
        {
            File.Delete(file);
        }

        return perSecond;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>A count from a live service's database, read beside it (WAL lets a reader in while it writes).</summary>
    public static long Count(string databasePath, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
