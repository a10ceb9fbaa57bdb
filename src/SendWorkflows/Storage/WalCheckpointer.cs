using Microsoft.Data.Sqlite;

namespace SendWorkflows.Storage;

/// <summary>
/// Copies SQLite's write-ahead log back into the database file on a thread of its own, so the writer
/// never does it inside a commit (SQLite's <c>wal_checkpoint</c>, https://sqlite.org/wal.html#ckpt).
/// </summary>
/// <remarks>
/// <para>
/// In WAL mode a commit appends the pages it changed to the log; a checkpoint copies them into the
/// database file and syncs both. Left to SQLite (<c>wal_autocheckpoint</c>), the commit that crosses the
/// threshold runs the checkpoint itself, and every writer waiting on it waits too: in a file of
/// 1,000,000 enrolments a batch of xAPI statements changes ~5,000 pages, and the checkpoint's copy and
/// two syncs took about as long as the batch. Here the writer runs with <c>wal_autocheckpoint=0</c> and
/// calls <see cref="Committed"/> after each commit with the pages it wrote; once
/// <see cref="CheckpointAfterFrames"/> pages have gathered (SQLite's own threshold was set to the same),
/// this thread checkpoints in PASSIVE mode, which copies what it can without taking the write lock,
/// while the writer goes on appending. Small commits are therefore checkpointed together, as SQLite
/// would: a checkpoint after every one would sync the file hundreds of times a second.
/// </para>
/// <para>
/// A PASSIVE checkpoint never makes the log start again from its beginning while commits keep coming,
/// so the log would only grow. Once it holds <see cref="RestartAfterFrames"/> pages, the writer, between
/// transactions, calls <see cref="RestartIfLong"/>: that waits for a checkpoint under way, copies the
/// little that is left and, unless a reader still uses the old pages, has the next commit write the log
/// from its beginning again. The log file therefore stays below about
/// <see cref="RestartAfterFrames"/> pages plus one group of commits.
/// </para>
/// <para>
/// Durability is SQLite's own for <c>synchronous=NORMAL</c>: a commit is in the log before it is
/// acknowledged, and the log is synced before any checkpoint copies from it. Checkpointing more often
/// only syncs more often.
/// </para>
/// </remarks>
internal sealed class WalCheckpointer : IDisposable
{
    /// <summary>Pages written to the log (~40 MB of 4 KB pages) after which a checkpoint runs.</summary>
    internal const long CheckpointAfterFrames = 10_000;

    /// <summary>Pages in the log (~128 MB of 4 KB pages) after which the writer has it started again.</summary>
    internal const long RestartAfterFrames = 32_768;

    private readonly long _checkpointAfterFrames;
    private readonly long _restartAfterFrames;
    private long _framesSinceCheckpoint;
    private readonly string _connectionString;
    private readonly ILogger? _log;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly SemaphoreSlim _committed = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private long _framesInLog;
    private long _checkpoints;
    private long _restarts;

    public WalCheckpointer(string connectionString, ILogger? log = null,
        long checkpointAfterFrames = CheckpointAfterFrames, long restartAfterFrames = RestartAfterFrames)
    {
        _checkpointAfterFrames = checkpointAfterFrames;
        _restartAfterFrames = restartAfterFrames;
        _connectionString = new SqliteConnectionStringBuilder(connectionString) { Pooling = false }.ToString();
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "SQLite checkpoints" };
        _thread.Start();
    }

    /// <summary>Checkpoints run by this thread so far.</summary>
    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    /// <summary>Times the log was started again from its beginning.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>Pages in the log: as the last checkpoint found it, plus what was written since.</summary>
    public long FramesInLog => Interlocked.Read(ref _framesInLog);

    /// <summary>
    /// Pages the connection has written since the last call (to the log, in WAL mode): SQLite's
    /// <c>SQLITE_DBSTATUS_CACHE_WRITE</c>, read and reset (https://sqlite.org/c3ref/c_dbstatus_options.html).
    /// </summary>
    public static long PagesWritten(SqliteConnection connection)
    {
        SQLitePCL.raw.sqlite3_db_status(connection.Handle, SQLitePCL.raw.SQLITE_DBSTATUS_CACHE_WRITE, out var written, out _, 1);
        return written;
    }

    /// <summary>
    /// Tells the thread that a commit wrote <paramref name="pages"/> pages to the log (see
    /// <see cref="PagesWritten"/>). Cheap, and never waits. Returns whether a checkpoint was asked for.
    /// </summary>
    public bool Committed(long pages)
    {
        Interlocked.Add(ref _framesInLog, pages);
        if (Interlocked.Add(ref _framesSinceCheckpoint, pages) < _checkpointAfterFrames)
        {
            return false;
        }

        if (_committed.CurrentCount == 0)
        {
            try
            {
                _committed.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another commit signalled at the same moment: one checkpoint covers both.
            }
        }

        return true;
    }

    /// <summary>
    /// Called by the writer with no transaction open: if the log has grown past
    /// <see cref="RestartAfterFrames"/>, checkpoints all of it and lets the next commit write the log
    /// from its beginning. A reader still using the log makes this give up at once (it is tried again
    /// before a later transaction), rather than hold up writes.
    /// </summary>
    public void RestartIfLong(SqliteConnection writer)
    {
        if (Interlocked.Read(ref _framesInLog) < _restartAfterFrames)
        {
            return;
        }

        _oneAtATime.Wait();
        try
        {
            var (busy, log, _) = Checkpoint(writer, "RESTART");
            if (!busy)
            {
                Interlocked.Exchange(ref _framesInLog, 0);
                Interlocked.Increment(ref _restarts);
            }
            else
            {
                Interlocked.Exchange(ref _framesInLog, log);
            }
        }
        catch (SqliteException e)
        {
            _log?.LogWarning(e, "Could not restart the SQLite write-ahead log (SQLite error {Code}); trying again later", e.SqliteErrorCode);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    private void Run()
    {
        SqliteConnection? connection = null;
        try
        {
            while (true)
            {
                _committed.Wait(_stop.Token);
                _oneAtATime.Wait(_stop.Token);
                try
                {
                    if (connection is null)
                    {
                        connection = new SqliteConnection(_connectionString);
                        connection.Open();
                    }

                    Interlocked.Exchange(ref _framesSinceCheckpoint, 0);
                    var (_, log, _) = Checkpoint(connection, "PASSIVE");
                    Interlocked.Exchange(ref _framesInLog, Math.Max(log, 0));
                    Interlocked.Increment(ref _checkpoints);
                }
                catch (SqliteException e)
                {
                    // The next commit brings another try; until then the log grows, as it would if SQLite's own checkpoint failed.
                    _log?.LogWarning(e, "SQLite checkpoint failed (SQLite error {Code}); trying again after the next commit", e.SqliteErrorCode);
                    connection?.Dispose();
                    connection = null;
                }
                finally
                {
                    _oneAtATime.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary><c>PRAGMA wal_checkpoint(mode)</c>: whether it was kept from finishing, pages in the log, and pages copied (-1, -1 when not in WAL mode).</summary>
    private static (bool Busy, long Log, long Copied) Checkpoint(SqliteConnection connection, string mode)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA wal_checkpoint({mode})";
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0) != 0, reader.GetInt64(1), reader.GetInt64(2)) : (false, 0, 0);
    }

    /// <summary>Stops the thread after the checkpoint under way, if any. SQLite checkpoints the rest when the last connection closes.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }
}
