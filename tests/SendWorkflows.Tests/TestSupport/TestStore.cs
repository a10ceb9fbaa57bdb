using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using SendWorkflows.Storage;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// The store the tests run on. SendWorkflows.Tests runs them on SQLite; SendWorkflows.Tests.Postgres
/// compiles the same sources with <c>POSTGRES_STORE</c> and runs them on a real PostgreSQL
/// (<see cref="PostgresServer"/>). Each test's data lives under a folder (its root): on SQLite a file
/// in it, on PostgreSQL a database whose name comes from the folder's path, so several apps started
/// on one root share their data as they would on one file.
/// </summary>
public static class TestStore
{
#if POSTGRES_STORE
    public const string Provider = "postgres";
#else
    public const string Provider = "sqlite";
#endif

    public static bool IsPostgres => Provider == "postgres";

    /// <summary>Connections each app (or store a test opens) may hold: many run at once against one server.</summary>
    private const int PoolSize = 10;

    /// <summary>The connection string of the store under <paramref name="root"/>; on PostgreSQL its database is created on first use.</summary>
    public static string ConnectionString(string root) =>
        IsPostgres
            ? OnThreadPool(() => CreatePostgresDatabaseAsync(DatabaseName(root)))
            : $"Data Source={SqlitePath(root)}";

    public static string SqlitePath(string root) => Path.Combine(root, "sendworkflows.db");

    /// <summary>A store on the data under <paramref name="root"/>, outside any app, migrated; the folder stays when it is disposed.</summary>
    public static async Task<OpenStore> OpenAsync(string root) => await OpenAsync(root, ownsRoot: false);

    /// <summary>A store of its own, on a new folder (and database) removed when it is disposed.</summary>
    public static async Task<OpenStore> OpenNewAsync() =>
        await OpenAsync(Directory.CreateTempSubdirectory("sendworkflows-store-").FullName, ownsRoot: true);

    private static async Task<OpenStore> OpenAsync(string root, bool ownsRoot)
    {
        var connectionString = ConnectionString(root);
#if POSTGRES_STORE
        var store = new PostgresStore(connectionString);
#else
        var store = new SqliteStore(connectionString);
#endif
        await store.MigrateAsync(CancellationToken.None);
        return new OpenStore(store, store, root, ownsRoot);
    }

    /// <summary>
    /// SQL for a text field inside a JSON column (text or jsonb), by keys: <c>JsonText("state", "staff", "givenName")</c>.
    /// SQLite reads JSON from text with <c>-&gt;</c>; PostgreSQL needs the value to be jsonb first.
    /// </summary>
    public static string JsonText(string column, params string[] keys) =>
        (IsPostgres ? $"CAST({column} AS jsonb)" : column)
        + string.Concat(keys[..^1].Select(k => $" -> '{k}'")) + $" ->> '{keys[^1]}'";

    /// <summary>SQL for a byte column read as UTF-8 text.</summary>
    public static string Utf8Text(string column) =>
        IsPostgres ? $"convert_from({column}, 'UTF8')" : $"CAST({column} AS TEXT)";

    /// <summary>The first column of the first row, as text (null for SQL NULL or no row).</summary>
    public static string? Text(string connectionString, string sql)
    {
        object? value;
        if (IsPostgres)
        {
            using var connection = new NpgsqlConnection(connectionString);
            connection.Open();
            using var command = new NpgsqlCommand(sql, connection);
            value = command.ExecuteScalar();
        }
        else
        {
            using var connection = new SqliteConnection(connectionString + ";Mode=ReadOnly;Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            value = command.ExecuteScalar();
        }

        return value is null or DBNull ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    /// <summary>Changes the data behind the app's back, to stage damage or leftovers a test needs.</summary>
    public static void Execute(string connectionString, string sql)
    {
        if (IsPostgres)
        {
            using var connection = new NpgsqlConnection(connectionString);
            connection.Open();
            using var command = new NpgsqlCommand(sql, connection);
            command.ExecuteNonQuery();
        }
        else
        {
            using var connection = new SqliteConnection(connectionString + ";Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Closes SQLite's pooled handles, so a folder can be deleted or its file opened afresh.</summary>
    public static void Release()
    {
        if (!IsPostgres)
        {
            SqliteConnection.ClearAllPools();
        }
    }

    /// <summary>Removes the folder and everything stored under it: the SQLite file in it, or its PostgreSQL database.</summary>
    public static void Remove(string root)
    {
        Release();
        if (IsPostgres)
        {
            OnThreadPool(() => DropPostgresDatabaseAsync(DatabaseName(root)));
        }

        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Stable for a folder, unique across folders, and a valid PostgreSQL name (at most 63 bytes).</summary>
    public static string DatabaseName(string root) =>
        "app_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(root))))[..32];

    // Database creation from inside synchronous test plumbing (WebApplicationFactory's configuration,
    // Dispose): run it on the thread pool, away from the test framework's synchronisation context.
    private static T OnThreadPool<T>(Func<Task<T>> work) => Task.Run(work).GetAwaiter().GetResult();

    private static void OnThreadPool(Func<Task> work) => Task.Run(work).GetAwaiter().GetResult();

    /// <summary>
    /// A database migrated once per test run and copied for each app. Measured on the 2-core reference
    /// machine: copying it file by file takes about 40 ms, where a new database and every migration
    /// take about 300 ms, and the suite starts hundreds of apps.
    /// </summary>
    private static readonly Lazy<Task<string>> Template = new(CreateTemplateAsync);

    private static async Task<string> CreateTemplateAsync()
    {
        const string name = "sendworkflows_template";
        var server = await PostgresServer.SharedAsync();
        var connectionString = await server.CreateDatabaseAsync(name);
        // No pool: a template may have no open connection when it is copied.
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
#if POSTGRES_STORE
        await using (var store = new PostgresStore(unpooled))
        {
            await store.MigrateAsync(CancellationToken.None);
        }
#endif
        await AdminAsync($"ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false");
        return name;
    }

    private static async Task<string> CreatePostgresDatabaseAsync(string name)
    {
        var server = await PostgresServer.SharedAsync();
        var template = await Template.Value;
        try
        {
            await AdminAsync($"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY FILE_COPY");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
        {
            // Made earlier for the same folder: an app started again on the same data.
        }

        return server.ConnectionString(name, PoolSize);
    }

    private static Task DropPostgresDatabaseAsync(string name) =>
        // WITH (FORCE) ends whatever is still connected to it. Only this database's pool holds its
        // connections, and it is never used again, so other tests' pools are left alone.
        AdminAsync($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");

    private static async Task AdminAsync(string sql)
    {
        var server = await PostgresServer.SharedAsync();
        await using var connection = new NpgsqlConnection(server.ConnectionString("postgres", 2));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>An enrolment on the "small" programme, enrolled at <paramref name="now"/>, for tests that write to a store directly.</summary>
    public static SendWorkflows.Workflow.EnrolmentState NewEnrolment(int i, DateTimeOffset now) => new()
    {
        Id = Guid.NewGuid(),
        ProgrammeId = "small",
        ProgrammeVersion = 1,
        SchoolUrn = "100004",
        Staff = new SendWorkflows.Workflow.StaffMember($"T-{i}", "Nia", "Adebayo", $"t-{i}@school100004.example.org", SendWorkflows.Workflow.StaffRole.Teacher),
        Status = SendWorkflows.Workflow.EnrolmentStatus.Enrolled,
        EnrolledAt = now,
        Deadline = now.AddDays(30),
    };
}

/// <summary>A store a test opened itself; disposing it closes the store, and removes its folder and data if it made them.</summary>
public sealed class OpenStore(IWorkflowStore store, IAsyncDisposable closing, string root, bool ownsRoot) : IAsyncDisposable
{
    public IWorkflowStore Store { get; } = store;

    /// <summary>The folder the store's data is kept under; an app started on it shares that data.</summary>
    public string Root { get; } = root;

    public async ValueTask DisposeAsync()
    {
        await closing.DisposeAsync();
        if (ownsRoot)
        {
            TestStore.Remove(Root);
        }
        else
        {
            TestStore.Release();
        }
    }
}
