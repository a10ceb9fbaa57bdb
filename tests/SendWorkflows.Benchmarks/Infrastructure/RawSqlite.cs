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

    /// <summary>
    /// The embedded limit for what a batch of xAPI completions has to read and write, measured in the
    /// service's own database file once the service has stopped, with the service's pragmas, SQL and
    /// checkpoints (<see cref="SendWorkflows.Storage.WalCheckpointer"/>, beside the loop as beside the service's writer): per
    /// batch, the statement ids looked up in one query; per statement, its enrolment read by id, its event
    /// key checked, the enrolment's state written back (the same text, as long as before), the event and
    /// the statement inserted; one commit per batch. Every value is made before the batch starts: no
    /// HTTP, no JSON parsing, no validation, no decisions. What is left is what SQLite itself costs for
    /// the rows one statement needs. Returns statements per second.
    /// </summary>
    public static double StatementBatchesPerSecond(string databasePath, IReadOnlyList<Guid> enrolments, Func<Guid, string> statementJson,
        int statementsPerBatch, TimeSpan duration)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Pooling=false");
        connection.Open();
        Execute(connection, SendWorkflows.Storage.SqliteStore.WriterPragmas);
        using var checkpointer = new SendWorkflows.Storage.WalCheckpointer(connection.ConnectionString);
        string payload, keyStem;
        using (var sample = connection.CreateCommand())
        {
            // A real event's payload and key, so the rows are the size the service writes.
            sample.CommandText = "SELECT payload, event_key FROM enrolment_events WHERE type = 'module_completed' LIMIT 1";
            using var reader = sample.ExecuteReader();
            if (!reader.Read())
            {
                throw new InvalidOperationException("the service's database has no module_completed event to copy the shape of");
            }

            (payload, keyStem) = (reader.GetString(0), reader.GetString(1));
        }

        using var find = Command(connection, "SELECT id, content_hash, occurred_at FROM xapi_statements WHERE id IN (SELECT value FROM json_each($ids))", "$ids");
        using var read = Command(connection, "SELECT id, state, version, next_wake_at FROM enrolments WHERE id = $id", "$id");
        using var keyStored = Command(connection, "SELECT 1 FROM enrolment_events WHERE enrolment_id = $enrolment AND event_key = $key", "$enrolment", "$key");
        using var update = Command(connection,
            "UPDATE enrolments SET state = $state, version = $version, next_wake_at = $wake, updated_at = $now WHERE id = $id AND version = $expected",
            "$id", "$expected", "$version", "$state", "$wake", "$now");
        using var append = Command(connection,
            "INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at) VALUES ($enrolment, $key, 'module_completed', $payload, $now) ON CONFLICT (enrolment_id, event_key) DO NOTHING",
            "$enrolment", "$key", "$payload", "$now");
        using var insert = Command(connection,
            """
            INSERT INTO xapi_statements (id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
            VALUES ($id, $enrolment, 'http://adlnet.gov/expapi/verbs/completed', $hash, $occurred, $statement, $client, $now) ON CONFLICT (id) DO NOTHING
            """, "$id", "$enrolment", "$hash", "$occurred", "$statement", "$client", "$now");
        var client = Guid.NewGuid().ToString();
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray()));
        long statements = 0;
        var elapsed = TimeSpan.Zero;
        for (var batch = 0; elapsed < duration; batch++)
        {
            var items = Enumerable.Range(0, statementsPerBatch).Select(i =>
            {
                var id = Guid.NewGuid();
                return (Id: id.ToString(), Enrolment: enrolments[(batch * statementsPerBatch + i) % enrolments.Count].ToString(),
                    Key: $"{keyStem}:{batch}:{i}", Json: statementJson(id));
            }).ToList();
            var ids = System.Text.Json.JsonSerializer.Serialize(items.Select(s => s.Id));
            var clock = Stopwatch.StartNew();
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            checkpointer.RestartIfLong(connection);
            using (var tx = connection.BeginTransaction(deferred: false))
            {
                foreach (var command in new[] { find, read, keyStored, update, append, insert })
                {
                    command.Transaction = tx;
                }

                find.Parameters[0].Value = ids;
                using (var found = find.ExecuteReader())
                {
                    while (found.Read())
                    {
                    }
                }

                var states = new Dictionary<string, (string State, long Version, object Wake)>(items.Count);
                foreach (var item in items)
                {
                    read.Parameters[0].Value = item.Enrolment;
                    using var row = read.ExecuteReader();
                    row.Read();
                    states[item.Enrolment] = (row.GetString(1), row.GetInt64(2), row.IsDBNull(3) ? DBNull.Value : row.GetInt64(3));
                    keyStored.Parameters[0].Value = item.Enrolment;
                    keyStored.Parameters[1].Value = item.Key;
                    keyStored.ExecuteScalar();
                }

                foreach (var item in items)
                {
                    var (state, version, wake) = states[item.Enrolment];
                    update.Parameters[0].Value = item.Enrolment;
                    update.Parameters[1].Value = version;
                    update.Parameters[2].Value = version + 1;
                    update.Parameters[3].Value = state;
                    update.Parameters[4].Value = wake;
                    update.Parameters[5].Value = now;
                    if (update.ExecuteNonQuery() != 1)
                    {
                        throw new InvalidOperationException($"enrolment {item.Enrolment} was not at version {version}");
                    }

                    states[item.Enrolment] = (state, version + 1, wake);
                    append.Parameters[0].Value = item.Enrolment;
                    append.Parameters[1].Value = item.Key;
                    append.Parameters[2].Value = payload;
                    append.Parameters[3].Value = now;
                    append.ExecuteNonQuery();
                    insert.Parameters[0].Value = item.Id;
                    insert.Parameters[1].Value = item.Enrolment;
                    insert.Parameters[2].Value = hash;
                    insert.Parameters[3].Value = now;
                    insert.Parameters[4].Value = item.Json;
                    insert.Parameters[5].Value = client;
                    insert.Parameters[6].Value = now;
                    insert.ExecuteNonQuery();
                }

                tx.Commit();
                checkpointer.Committed(SendWorkflows.Storage.WalCheckpointer.PagesWritten(connection));
            }

            elapsed += clock.Elapsed;
            statements += items.Count;
        }

        // Every statement must have written its event (ON CONFLICT DO NOTHING would otherwise hide a miss).
        using var written = Command(connection, "SELECT COUNT(*) FROM enrolment_events WHERE event_key >= $from AND event_key < $to", "$from", "$to");
        written.Parameters[0].Value = keyStem + ":";
        written.Parameters[1].Value = keyStem + ";";
        if (Convert.ToInt64(written.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) is var events && events != statements)
        {
            throw new InvalidOperationException($"the reference wrote {events} events for {statements} statements");
        }

        return statements / elapsed.TotalSeconds;
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        command.Prepare();
        return command;
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
