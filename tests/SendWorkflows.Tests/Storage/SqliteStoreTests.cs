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
