using Microsoft.Data.Sqlite;
using SendWorkflows.Storage;

namespace SendWorkflows.Tests.Storage;

/// <summary>
/// Checkpoints beside the writer, on real SQLite files. What is observed is the files themselves: with
/// SQLite's own checkpoints off, committed pages stay in the log until something copies them into the
/// database file, and the log only starts again from its beginning after a checkpoint that left
/// nothing behind.
/// </summary>
public sealed class WalCheckpointerTests
{
    private const int RowsPerCommit = 40; // ~1 KB each: about ten 4 KB pages per commit

    [Fact]
    public async Task a_commit_is_copied_into_the_database_file_by_the_checkpoints_thread_not_by_the_writer()
    {
        var db = NewDatabase();
        using var writer = OpenWriter(db);
        var before = new FileInfo(db).Length;
        Commit(writer, 0);
        Assert.Equal(before, new FileInfo(db).Length); // the writer's own checkpoints are off: the pages are only in the log

        using var checkpointer = new WalCheckpointer($"Data Source={db}", checkpointAfterFrames: 1);
        checkpointer.Committed(WalCheckpointer.PagesWritten(writer));
        await Until(() => checkpointer.Checkpoints >= 1);

        Assert.True(new FileInfo(db).Length >= before + RowsPerCommit * 1000,
            $"the database file is {new FileInfo(db).Length} bytes after the checkpoint, {before} before");
        Assert.Equal(RowsPerCommit, Count(db));
    }

    [Fact]
    public async Task small_commits_are_checkpointed_together_once_enough_pages_have_gathered()
    {
        var db = NewDatabase();
        using var writer = OpenWriter(db);
        WalCheckpointer.PagesWritten(writer); // counts from here
        var before = new FileInfo(db).Length;
        using var checkpointer = new WalCheckpointer($"Data Source={db}", checkpointAfterFrames: 25);
        var asked = new List<bool>();
        for (var i = 0; i < 3; i++)
        {
            Commit(writer, i);
            var pages = WalCheckpointer.PagesWritten(writer);
            Assert.InRange(pages, 10, 14); // forty rows of ~1 KB, and the pages above them
            asked.Add(checkpointer.Committed(pages));
        }

        Assert.Equal([false, false, true], asked);
        await Until(() => checkpointer.Checkpoints == 1);
        Assert.True(new FileInfo(db).Length >= before + 3 * RowsPerCommit * 1000, "the one checkpoint copied all three commits into the file");
    }

    [Fact]
    public async Task a_long_log_that_checkpoints_could_not_finish_is_started_again_before_the_next_commit()
    {
        var db = NewDatabase();
        using var writer = OpenWriter(db);
        using var checkpointer = new WalCheckpointer($"Data Source={db}", checkpointAfterFrames: 1, restartAfterFrames: 15);
        await LeaveTheLogPartlyCopiedAsync(db, writer, checkpointer, whileReading: () => { });
        Assert.True(checkpointer.FramesInLog >= 15, $"{checkpointer.FramesInLog} pages in the log");

        checkpointer.RestartIfLong(writer);
        Assert.Equal(1, checkpointer.Restarts);

        // The next commit writes the log from its beginning: it holds that commit's pages only. Without the
        // restart SQLite would append them, because the last checkpoint had not copied everything.
        Commit(writer, 2);
        Assert.InRange(PagesInLog(db), 1, 14);
        Assert.Equal(3 * RowsPerCommit, Count(db));
    }

    [Fact]
    public async Task a_reader_still_using_the_log_makes_the_restart_give_way_and_it_happens_once_the_reader_is_done()
    {
        var db = NewDatabase();
        using var writer = OpenWriter(db);
        using var checkpointer = new WalCheckpointer($"Data Source={db}", checkpointAfterFrames: 1, restartAfterFrames: 15);
        await LeaveTheLogPartlyCopiedAsync(db, writer, checkpointer, whileReading: () =>
        {
            // The reader's snapshot still needs the log, so the writer is not held up waiting for it.
            checkpointer.RestartIfLong(writer);
            Assert.Equal(0, checkpointer.Restarts);
        });

        checkpointer.RestartIfLong(writer);
        Assert.Equal(1, checkpointer.Restarts);
    }

    /// <summary>
    /// Two commits with a reader's snapshot taken between them: the checkpoint after the second can copy
    /// only what the reader could see, so the log is left partly copied, as it is when commits keep coming.
    /// </summary>
    private static async Task LeaveTheLogPartlyCopiedAsync(string db, SqliteConnection writer, WalCheckpointer checkpointer, Action whileReading)
    {
        Commit(writer, 0);
        using var reader = new SqliteConnection($"Data Source={db};Pooling=false");
        reader.Open();
        using var snapshot = reader.BeginTransaction(deferred: true);
        using (var read = reader.CreateCommand())
        {
            read.Transaction = snapshot;
            read.CommandText = "SELECT COUNT(*) FROM t";
            Assert.Equal(RowsPerCommit, Convert.ToInt32(read.ExecuteScalar()));
        }

        Commit(writer, 1);
        checkpointer.Committed(WalCheckpointer.PagesWritten(writer));
        await Until(() => checkpointer.Checkpoints >= 1);
        whileReading();
        snapshot.Commit();
    }

    /// <summary>Pages in the log as SQLite counts them (a PASSIVE checkpoint's second column).</summary>
    private static long PagesInLog(string db)
    {
        using var connection = new SqliteConnection($"Data Source={db};Pooling=false");
        connection.Open();
        using var checkpoint = connection.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var row = checkpoint.ExecuteReader();
        row.Read();
        return row.GetInt64(1);
    }

    [Fact]
    public async Task the_store_checkpoints_its_own_commits_and_closing_it_leaves_everything_in_the_database_file()
    {
        var db = NewDatabase(migrate: false);
        var store = new SqliteStore($"Data Source={db}");
        await store.MigrateAsync(CancellationToken.None);
        var afterMigrations = new FileInfo(db).Length;
        // 60 commits of ~200 pages: more than the pages after which a checkpoint runs.
        const int commits = 60, bytes = 800_000;
        Assert.True(commits * bytes / 4096 > WalCheckpointer.CheckpointAfterFrames);
        for (var i = 0; i < commits; i++)
        {
            await using var tx = await store.BeginAsync(CancellationToken.None);
            await tx.InsertClientAsync(new ApiClient(Guid.NewGuid(), $"client {i} {new string('x', bytes)}", ["lms"], DateTimeOffset.UnixEpoch, null), $"hash-{i}");
            await tx.CommitAsync();
        }

        // The writer runs with SQLite's own checkpoints off; only the store's checkpoints thread grows the file.
        await Until(() => new FileInfo(db).Length > afterMigrations + commits * bytes / 2);
        await store.DisposeAsync();
        SqliteConnection.ClearAllPools();

        Assert.False(File.Exists(db + "-wal") && new FileInfo(db + "-wal").Length > 0, "the log is left with pages in it after the store closed");
        using var check = new SqliteConnection($"Data Source={db};Pooling=false");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM api_clients";
        Assert.Equal(commits, Convert.ToInt32(count.ExecuteScalar()));
    }

    private static string NewDatabase(bool migrate = true)
    {
        var db = Path.Combine(Directory.CreateTempSubdirectory("sendworkflows-wal-").FullName, "w.db");
        if (migrate)
        {
            using var setup = new SqliteConnection($"Data Source={db};Pooling=false");
            setup.Open();
            Execute(setup, "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);");
        }

        return db;
    }

    /// <summary>A writer set up as the store's is: SQLite's own checkpoints off.</summary>
    private static SqliteConnection OpenWriter(string db)
    {
        var writer = new SqliteConnection($"Data Source={db};Pooling=false");
        writer.Open();
        Execute(writer, SqliteStore.WriterPragmas);
        Execute(writer, "PRAGMA wal_checkpoint(TRUNCATE);"); // start from an empty log
        return writer;
    }

    private static void Commit(SqliteConnection writer, int commit)
    {
        using var tx = writer.BeginTransaction(deferred: false);
        using var insert = writer.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO t (body) VALUES ($body)";
        var body = insert.Parameters.Add("$body", SqliteType.Text);
        for (var i = 0; i < RowsPerCommit; i++)
        {
            body.Value = $"{commit}:{i}:" + new string('x', 1000);
            insert.ExecuteNonQuery();
        }

        tx.Commit();
    }

    private static int Count(string db)
    {
        using var connection = new SqliteConnection($"Data Source={db};Pooling=false");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM t";
        return Convert.ToInt32(count.ExecuteScalar());
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Waits for the checkpoints thread; a generous bound only so that a broken build fails rather than hangs.</summary>
    private static async Task Until(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 10)
        {
            Assert.True(waited < 30_000, "the condition did not hold within 30 s");
            await Task.Delay(10);
        }
    }
}
