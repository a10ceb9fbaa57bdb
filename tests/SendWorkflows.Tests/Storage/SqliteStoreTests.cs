using Microsoft.Data.Sqlite;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Storage;

/// <summary>The shared write transaction (group commit) must behave exactly like one transaction per unit.</summary>
public sealed class SqliteStoreTests
{
    private static async Task<(SqliteStore Store, string Db)> NewStoreAsync()
    {
        var db = Path.Combine(Directory.CreateTempSubdirectory("sendworkflows-store-").FullName, "s.db");
        var store = new SqliteStore($"Data Source={db}");
        await store.MigrateAsync(CancellationToken.None);
        return (store, db);
    }

    private static ApiClient Client(int i) =>
        new(Guid.NewGuid(), $"client {i}", ["lms"], DateTimeOffset.UnixEpoch, null);

    [Fact]
    public async Task concurrent_units_keep_exactly_what_committed_and_each_is_visible_once_acknowledged()
    {
        var (store, db) = await NewStoreAsync();
        await using var _ = store;
        var acknowledgedButMissing = 0;

        async Task<bool> UnitAsync(int i)
        {
            await using var tx = await store.BeginAsync(CancellationToken.None);
            await tx.InsertClientAsync(Client(i), $"hash-{i}");
            if (i % 3 == 0)
            {
                return false; // disposed without commit: rolled back
            }

            await tx.CommitAsync();
            if (await store.FindClientByKeyHashAsync($"hash-{i}", CancellationToken.None) is null)
            {
                Interlocked.Increment(ref acknowledgedButMissing);
            }

            return true;
        }

        var committed = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() => UnitAsync(i))));

        Assert.Equal(0, acknowledgedButMissing);
        Assert.Equal(committed.Count(c => c), SqliteFile.Long(db, "SELECT COUNT(*) FROM api_clients"));
        Assert.Equal(0, SqliteFile.Long(db, "SELECT COUNT(*) FROM api_clients WHERE CAST(substr(key_hash, 6) AS INTEGER) % 3 = 0"));
    }

    private static LiveSession Session(string id) =>
        new(id, "send-inclusion-core", $"Session {id}", DateTimeOffset.UnixEpoch.AddDays(1), DateTimeOffset.UnixEpoch.AddDays(1).AddHours(2), "Hall", 10);

    [Fact]
    public async Task a_snapshot_sees_what_was_committed_at_its_first_read_and_reads_while_a_write_holds_the_writer()
    {
        var (store, _) = await NewStoreAsync();
        await using var __ = store;
        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await tx.UpsertSessionAsync(Session("before"), DateTimeOffset.UnixEpoch);
            await tx.CommitAsync();
        }

        // A unit holds the writer, with a write not yet committed.
        var writing = await store.BeginAsync(CancellationToken.None);
        await writing.UpsertSessionAsync(Session("during"), DateTimeOffset.UnixEpoch);

        var begun = Task.Run(async () =>
        {
            var taken = (await store.BeginSnapshotAsync(CancellationToken.None))!;
            return (Snapshot: taken, Before: await taken.GetSessionAsync("before"));
        });
        // Bounded only so that a snapshot waiting for the writer fails here rather than hanging: the writer is held by this test.
        Assert.Same(begun, await Task.WhenAny(begun, Task.Delay(TimeSpan.FromSeconds(30))));
        var (snapshot, before) = await begun;
        await using var ___ = snapshot;
        Assert.NotNull(before);
        Assert.Null(await snapshot.GetSessionAsync("during"));

        await writing.CommitAsync();
        await writing.DisposeAsync();
        Assert.NotNull(await store.GetSessionAsync("during", CancellationToken.None));
        Assert.Null(await snapshot.GetSessionAsync("during")); // committed after the snapshot's first read

        await using var later = (await store.BeginSnapshotAsync(CancellationToken.None))!;
        Assert.NotNull(await later.GetSessionAsync("during"));
    }

    [Fact]
    public async Task a_unit_that_fails_midway_leaves_nothing_behind_and_the_next_unit_proceeds()
    {
        var (store, db) = await NewStoreAsync();
        await using var _ = store;
        await Assert.ThrowsAnyAsync<SqliteException>(async () =>
        {
            await using var tx = await store.BeginAsync(CancellationToken.None);
            var client = Client(1);
            await tx.InsertClientAsync(client, "same-hash");
            await tx.InsertClientAsync(client, "another-hash"); // the same id again: the primary key throws
            await tx.CommitAsync();
        });

        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await tx.InsertClientAsync(Client(3), "other-hash");
            await tx.CommitAsync();
        }

        Assert.Equal(1, SqliteFile.Long(db, "SELECT COUNT(*) FROM api_clients"));
        Assert.Equal(0, SqliteFile.Long(db, "SELECT COUNT(*) FROM api_clients WHERE key_hash = 'same-hash'"));
    }
}
