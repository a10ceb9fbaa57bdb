using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Storage;

/// <summary>
/// What only the PostgreSQL store has to get right: several instances share one database, so
/// migrations, due timers, outbox rows and saves must hold up when instances do them at once.
/// </summary>
public sealed class PostgresStoreTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private static readonly int MigrationCount = MigrationScripts.For("postgres").Count();

    /// <summary>A database with nothing in it (not even the schema), dropped when the test ends.</summary>
    private sealed class EmptyDatabase : IAsyncDisposable
    {
        private readonly PostgresServer _server;
        private readonly string _name = "empty_" + Guid.NewGuid().ToString("N");

        private EmptyDatabase(PostgresServer server) => _server = server;

        public string ConnectionString { get; private set; } = "";

        public static async Task<EmptyDatabase> CreateAsync()
        {
            var database = new EmptyDatabase(await PostgresServer.SharedAsync());
            database.ConnectionString = await database._server.CreateDatabaseAsync(database._name, maxPoolSize: 10);
            return database;
        }

        public long Scalar(string sql) => long.Parse(TestStore.Text(ConnectionString, sql)!, System.Globalization.CultureInfo.InvariantCulture);

        public async ValueTask DisposeAsync() => await _server.DropDatabaseAsync(_name);
    }

    private static EnrolmentState Person(int i) => TestStore.NewEnrolment(i, Now);

    private static long Count(OpenStore open, string table, string where) =>
        long.Parse(TestStore.Text(TestStore.ConnectionString(open.Root), $"SELECT COUNT(*) FROM {table} WHERE {where}")!,
            System.Globalization.CultureInfo.InvariantCulture);

    private static EmailEffect Welcome(int i) =>
        new("welcome", $"welcome:{i}", new EmailRecipient($"t-{i}@school100004.example.org", "Nia Adebayo"), new Dictionary<string, string>());

    private static async Task WriteAsync(IWorkflowStore store, Func<IStoreTransaction, Task> write)
    {
        await using var tx = await store.BeginAsync(CancellationToken.None);
        await write(tx);
        await tx.CommitAsync();
    }

    private static async Task<IReadOnlyList<OutboxItem>> ClaimOutboxAsync(IWorkflowStore store, DateTimeOffset now, int limit)
    {
        await using var tx = await store.BeginAsync(CancellationToken.None);
        var claimed = await tx.ClaimDueOutboxAsync(now, limit, now + Lease);
        await tx.CommitAsync();
        return claimed;
    }

    /// <summary>
    /// Both stores claim in small batches, several at a time each, until nothing is left (or more than
    /// <paramref name="rows"/> were claimed, which only claiming a row twice can do); every claim is returned.
    /// </summary>
    private static async Task<List<T>> ClaimUntilNoneLeftAsync<T>(
        IWorkflowStore[] stores, int rows, Func<IWorkflowStore, Task<IReadOnlyList<T>>> claim)
    {
        var all = new ConcurrentBag<T>();
        var workers = stores.SelectMany(store => Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (all.Count <= rows && await claim(store) is { Count: > 0 } batch)
            {
                foreach (var item in batch)
                {
                    all.Add(item);
                }
            }
        })));
        await Task.WhenAll(workers);
        return all.ToList();
    }

    [Fact]
    public async Task every_app_in_this_suite_runs_on_postgresql()
    {
        await using var app = new TestApp();
        Assert.IsType<PostgresStore>(app.Service<IWorkflowStore>());
        Assert.Equal(1, app.Scalar("SELECT COUNT(*) FROM pg_database WHERE datname = current_database() AND datname LIKE 'app_%'"));
    }

    [Fact]
    public async Task instances_migrating_one_empty_database_at_once_apply_each_migration_exactly_once()
    {
        await using var database = await EmptyDatabase.CreateAsync();
        var stores = Enumerable.Range(0, 4).Select(_ => new PostgresStore(database.ConnectionString)).ToArray();
        try
        {
            await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(CancellationToken.None))));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }

        Assert.True(MigrationCount >= 7);
        Assert.Equal(MigrationCount, database.Scalar("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(MigrationCount, database.Scalar("SELECT COUNT(DISTINCT version) FROM schema_migrations"));
        Assert.Equal(1, database.Scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'enrolments'"));
    }

    [Fact]
    public async Task an_enrolment_saved_again_keeps_its_page_so_its_indexes_are_left_alone()
    {
        await using var database = await EmptyDatabase.CreateAsync();
        await using var store = new PostgresStore(database.ConnectionString);
        await store.MigrateAsync(CancellationToken.None);
        // Enough people to fill more than one page (a state is most of a kilobyte, a page 8 KB).
        var people = Enumerable.Range(1, 20).Select(Person).ToList();
        await WriteAsync(store, async tx =>
        {
            foreach (var person in people)
            {
                await tx.InsertEnrolmentAsync(person, null, Now);
            }
        });
        string? Page(Guid id) => TestStore.Text(database.ConnectionString, $"SELECT (ctid::text::point)[0] FROM enrolments WHERE id = '{id}'");
        var first = people[0];
        Assert.True(database.Scalar("SELECT COUNT(DISTINCT (ctid::text::point)[0]) FROM enrolments") > 1);
        Assert.Equal("0", Page(first.Id));

        // Progress rewrites the row three times; each new version must fit beside the old one on the
        // same page (a heap-only update), which a page filled to 90% (the table's first setting) has no room for.
        var state = first;
        for (var version = 1; version <= 3; version++)
        {
            state = state with { ModulesCompleted = state.ModulesCompleted.SetItem($"module-{version}", Now.AddMinutes(version)) };
            var current = state;
            var expected = version;
            await WriteAsync(store, async tx => Assert.True(await tx.UpdateEnrolmentAsync(current, expected, null, Now)));
            Assert.Equal("0", Page(first.Id));
        }
    }

    [Fact]
    public async Task stored_xapi_statements_are_indexed_only_by_their_id_which_is_how_they_are_looked_up()
    {
        await using var database = await EmptyDatabase.CreateAsync();
        await using var store = new PostgresStore(database.ConnectionString);
        await store.MigrateAsync(CancellationToken.None);
        // Every index is written for every statement stored; only the primary key's is ever read.
        Assert.Equal("xapi_statements_pkey",
            TestStore.Text(database.ConnectionString, "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE tablename = 'xapi_statements'"));
    }

    [Fact]
    public async Task migrating_a_migrated_database_again_changes_nothing()
    {
        await using var database = await EmptyDatabase.CreateAsync();
        await using (var store = new PostgresStore(database.ConnectionString))
        {
            await store.MigrateAsync(CancellationToken.None);
            await WriteAsync(store, tx => tx.InsertEnrolmentAsync(Person(1), null, Now));
        }

        var applied = TestStore.Text(database.ConnectionString, "SELECT string_agg(version || ':' || applied_at, ',' ORDER BY version) FROM schema_migrations");
        await using (var again = new PostgresStore(database.ConnectionString))
        {
            await again.MigrateAsync(CancellationToken.None);
        }

        Assert.Equal(applied, TestStore.Text(database.ConnectionString, "SELECT string_agg(version || ':' || applied_at, ',' ORDER BY version) FROM schema_migrations"));
        Assert.Equal(1, database.Scalar("SELECT COUNT(*) FROM enrolments"));
    }

    [Fact]
    public async Task the_migrate_command_creates_the_schema_in_postgresql_and_exits()
    {
        await using var database = await EmptyDatabase.CreateAsync();
        var dir = Directory.CreateTempSubdirectory("sendworkflows-migrate-").FullName;
        try
        {
            var app = Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll");
            var start = new ProcessStartInfo("dotnet",
                [app, "migrate", "--Storage:Provider=postgres", $"--Storage:ConnectionString={database.ConnectionString}"])
            {
                WorkingDirectory = dir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment = { ["ASPNETCORE_ENVIRONMENT"] = "Development" },
            };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);

            Assert.True(process.ExitCode == 0, await output + await errors);
            Assert.Contains("Migrations applied.", await output, StringComparison.Ordinal);
            Assert.Equal(MigrationCount, database.Scalar("SELECT COUNT(*) FROM schema_migrations"));
            Assert.Equal(1, database.Scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'enrolments'"));
            Assert.False(Directory.Exists(Path.Combine(dir, "data")), "a SQLite file was made instead");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task instances_claiming_due_outbox_rows_at_once_never_take_the_same_row()
    {
        await using var first = await TestStore.OpenNewAsync();
        await using var second = await TestStore.OpenAsync(first.Root);
        const int rows = 300;
        await WriteAsync(first.Store, tx => tx.EnqueueEffectsAsync(null, Enumerable.Range(0, rows).Select(Welcome), Now));

        var claimed = await ClaimUntilNoneLeftAsync([first.Store, second.Store], rows, store => ClaimOutboxAsync(store, Now, 7));

        Assert.Equal(rows, claimed.Count);
        Assert.Equal(rows, claimed.Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public async Task an_outbox_row_claimed_by_an_instance_that_died_is_claimed_again_once_its_lease_expires()
    {
        await using var crashed = await TestStore.OpenNewAsync();
        await using var other = await TestStore.OpenAsync(crashed.Root);
        await WriteAsync(crashed.Store, tx => tx.EnqueueEffectsAsync(null, [Welcome(1)], Now));
        var taken = Assert.Single(await ClaimOutboxAsync(crashed.Store, Now, 10));

        Assert.Empty(await ClaimOutboxAsync(other.Store, Now + Lease - TimeSpan.FromMilliseconds(1), 10));
        Assert.Equal(taken.Id, Assert.Single(await ClaimOutboxAsync(other.Store, Now + Lease, 10)).Id);
        Assert.Empty(await ClaimOutboxAsync(crashed.Store, Now + Lease, 10));
    }

    [Fact]
    public async Task instances_claiming_due_timers_at_once_never_take_the_same_enrolment()
    {
        await using var first = await TestStore.OpenNewAsync();
        await using var second = await TestStore.OpenAsync(first.Root);
        const int people = 300;
        await WriteAsync(first.Store, async tx =>
        {
            foreach (var i in Enumerable.Range(0, people))
            {
                Assert.True(await tx.InsertEnrolmentAsync(Person(i), Now.AddMinutes(-i), Now));
            }
        });

        var claimed = await ClaimUntilNoneLeftAsync([first.Store, second.Store], people,
            store => store.DueEnrolmentsAsync(Now, 7, Now + Lease, CancellationToken.None));

        Assert.Equal(people, claimed.Count);
        Assert.Equal(people, claimed.Distinct().Count());
    }

    [Fact]
    public async Task a_due_timer_claimed_by_an_instance_that_died_is_claimed_again_once_its_lease_expires()
    {
        await using var crashed = await TestStore.OpenNewAsync();
        await using var other = await TestStore.OpenAsync(crashed.Root);
        var person = Person(1);
        await WriteAsync(crashed.Store, tx => tx.InsertEnrolmentAsync(person, Now, Now));
        Assert.Equal([person.Id], await crashed.Store.DueEnrolmentsAsync(Now, 10, Now + Lease, CancellationToken.None));

        var later = Now + Lease - TimeSpan.FromMilliseconds(1);
        Assert.Empty(await other.Store.DueEnrolmentsAsync(later, 10, later + Lease, CancellationToken.None));
        Assert.False(await other.Store.HasDueWorkAsync(later, CancellationToken.None));

        Assert.True(await other.Store.HasDueWorkAsync(Now + Lease, CancellationToken.None));
        Assert.Equal([person.Id], await other.Store.DueEnrolmentsAsync(Now + Lease, 10, Now + Lease + Lease, CancellationToken.None));
    }

    [Fact]
    public async Task a_save_made_on_a_version_another_instance_has_since_saved_over_is_refused()
    {
        await using var first = await TestStore.OpenNewAsync();
        await using var second = await TestStore.OpenAsync(first.Root);
        var person = Person(1);
        await WriteAsync(first.Store, tx => tx.InsertEnrolmentAsync(person, null, Now));
        var read = (await first.Store.GetEnrolmentAsync(person.Id, CancellationToken.None))!;
        var started = read.State with { Status = EnrolmentStatus.InProgress };
        var withdrawn = read.State with { Status = EnrolmentStatus.Withdrawn };

        // Both instances decided on the same version; the first to save wins, and the second's save,
        // waiting on the first's row lock, then finds the version moved on.
        await using var winner = await first.Store.BeginAsync(CancellationToken.None);
        Assert.True(await winner.UpdateEnrolmentAsync(started, read.Version, null, Now));
        var loser = Task.Run(async () =>
        {
            await using var tx = await second.Store.BeginAsync(CancellationToken.None);
            var saved = await tx.UpdateEnrolmentAsync(withdrawn, read.Version, null, Now);
            await tx.CommitAsync();
            return saved;
        });
        await Task.Delay(200);
        Assert.False(loser.IsCompleted, "the second save did not wait for the first transaction");
        await winner.CommitAsync();

        Assert.False(await loser);
        var stored = (await second.Store.GetEnrolmentAsync(person.Id, CancellationToken.None))!;
        Assert.Equal(EnrolmentStatus.InProgress, stored.State.Status);
        Assert.Equal(read.Version + 1, stored.Version);

        // A stale version saved later, with no one else in the way, is refused just the same.
        await using var stale = await second.Store.BeginAsync(CancellationToken.None);
        Assert.False(await stale.UpdateEnrolmentAsync(withdrawn, read.Version, null, Now));
    }

    [Fact]
    public async Task a_failed_unit_leaves_nothing_behind_and_its_connection_goes_back_to_work()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        await Assert.ThrowsAnyAsync<PostgresException>(async () =>
        {
            await using var tx = await store.BeginAsync(CancellationToken.None);
            var client = new ApiClient(Guid.NewGuid(), "one", ["lms"], Now, null);
            await tx.InsertClientAsync(client, "same-hash");
            await tx.InsertClientAsync(client, "another-hash"); // the same id again: the primary key throws
            await tx.CommitAsync();
        });

        // More units than the pool has connections: a connection left in a failed transaction would stop them.
        for (var i = 0; i < 25; i++)
        {
            await WriteAsync(store, tx => tx.InsertClientAsync(new ApiClient(Guid.NewGuid(), $"c{i}", ["lms"], Now, null), $"hash-{i}"));
        }

        Assert.Null(await store.FindClientByKeyHashAsync("same-hash", CancellationToken.None));
        Assert.NotNull(await store.FindClientByKeyHashAsync("hash-24", CancellationToken.None));
    }

    /// <summary>
    /// Decisions saved at the same moment share a batch and a commit; whatever the batching, each
    /// outcome is the one the decision would have on its own: saved once, a repeat is a duplicate,
    /// a stale version is refused, and a decision the server rejects fails alone.
    /// </summary>
    [Fact]
    public async Task concurrent_saves_each_get_their_own_outcome_and_a_bad_one_fails_alone()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        var people = Enumerable.Range(0, 40).Select(Person).ToList();
        await WriteAsync(store, async tx => await tx.InsertEnrolmentsAsync(
            people.Select(p => new NewEnrolment(p, null, "enrolled", new Enrolled(p.Staff), [])).ToList(), Now));

        DecisionWrite Started(EnrolmentState p, int i, string? key = null) => new(
            key ?? $"module:m1:{i}", new ModuleCompleted("m1", Now), p with { Status = EnrolmentStatus.InProgress }, 1, null, [Welcome(i)]);

        // Everyone starts at once; person 0 twice with the same event, person 1 twice with different
        // events on the same version, and person 2 with an event key the server cannot store.
        var writes = people.Select((p, i) => Started(p, i, i == 2 ? "bad\0key" : null))
            .Append(Started(people[0], 0))
            .Append(Started(people[1], 1, "module:m1:other"))
            .ToList();
        var outcomes = await Task.WhenAll(writes.Select(async w =>
        {
            try
            {
                return (object)await store.SaveDecisionAsync(w, Now, CancellationToken.None);
            }
            catch (PostgresException e)
            {
                return e;
            }
        }));

        // Every outcome, in order, so a failure says what each decision got.
        var seen = string.Join(", ", outcomes.Select((o, i) => $"{i}: {(o is Exception e ? e.GetType().Name + " " + e.Message : o)}"));
        Assert.True(outcomes[2] is PostgresException, seen);
        Assert.True(outcomes.Where((_, i) => i != 2).All(o => o is SaveOutcome), seen);
        for (var i = 3; i < people.Count; i++)
        {
            Assert.True(SaveOutcome.Saved.Equals(outcomes[i]), seen);
        }

        // The same event twice: one saves it; the other finds it stored, or (when the two went in
        // different batches) finds the version moved on, and its caller decides again and finds it then.
        var repeat = new[] { outcomes[0], outcomes[^2] }.Cast<SaveOutcome>().Order().ToArray();
        Assert.True(repeat[0] == SaveOutcome.Saved, seen);
        Assert.True(repeat[1] is SaveOutcome.Duplicate or SaveOutcome.VersionMoved, seen);
        Assert.True(new[] { outcomes[1], outcomes[^1] }.Cast<SaveOutcome>().Order().SequenceEqual([SaveOutcome.Saved, SaveOutcome.VersionMoved]), seen);
        Assert.Equal(39, Count(open, "enrolment_events", "type = 'module_completed'"));
        Assert.Equal(39, Count(open, "enrolments", "status = 'in_progress' AND version = 2"));
        Assert.Equal(1, Count(open, "enrolments", $"id = '{people[2].Id}' AND status = 'enrolled' AND version = 1"));
        Assert.Equal(39, Count(open, "outbox", "true"));
    }

    /// <summary>
    /// A connection that ran a batch the server refused is not used again: its auto-prepared
    /// statements may be out of step with the server (seen as "unexpected DataRow" on its next
    /// command). Every server process that served the store before the refusal is gone afterwards.
    /// </summary>
    [Fact]
    public async Task connections_that_ran_a_refused_batch_are_closed_not_reused()
    {
        await using var open = await TestStore.OpenNewAsync();
        // Idle connections live long here, so only closing them on purpose removes them within the test.
        await using var store = new PostgresStore(TestStore.ConnectionString(open.Root) + ";Connection Idle Lifetime=300");
        var people = Enumerable.Range(0, 3).Select(Person).ToList();
        await WriteAsync(store, async tx => await tx.InsertEnrolmentsAsync(
            people.Select(p => new NewEnrolment(p, null, "enrolled", new Enrolled(p.Staff), [])).ToList(), Now));
        var database = TestStore.DatabaseName(open.Root);
        var others = $"datname = '{database}' AND pid <> pg_backend_pid()";
        DecisionWrite Started(int i, string key) => new(
            key, new ModuleCompleted("m1", Now), people[i] with { Status = EnrolmentStatus.InProgress }, 1, null, [Welcome(i)]);

        Assert.Equal(SaveOutcome.Saved, await store.SaveDecisionAsync(Started(0, "module:m1:0"), Now, CancellationToken.None));
        var before = TestStore.Text(TestStore.ConnectionString(open.Root), $"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE {others}");
        Assert.False(string.IsNullOrEmpty(before));

        await Assert.ThrowsAsync<PostgresException>(() => store.SaveDecisionAsync(Started(1, "bad\0key"), Now, CancellationToken.None));

        // Closing is asynchronous on the server's side: a process ends shortly after its client leaves.
        var survivors = -1L;
        for (var attempt = 0; attempt < 50 && survivors != 0; attempt++)
        {
            survivors = Count(open, "pg_stat_activity", $"{others} AND pid IN ({before})");
            if (survivors != 0)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(survivors == 0, $"before the refusal: {before}; now: " +
            TestStore.Text(TestStore.ConnectionString(open.Root), $"SELECT string_agg(pid::text || ' ' || state, ', ') FROM pg_stat_activity WHERE {others}"));
        Assert.Equal(SaveOutcome.Saved, await store.SaveDecisionAsync(Started(2, "module:m1:2"), Now, CancellationToken.None));
    }
}
