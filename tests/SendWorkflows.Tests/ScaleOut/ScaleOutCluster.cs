using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.ScaleOut;

/// <summary>
/// The scale-out tests start several processes each: they run one at a time, after the rest of the
/// suite, so they neither starve the other tests of the two cores nor are starved by them.
/// </summary>
[CollectionDefinition(nameof(ScaleOutCluster), DisableParallelization = true)]
public sealed class ScaleOutCollection;

/// <summary>
/// Several instances of the service sharing one fresh PostgreSQL database, as a scale-out
/// deployment runs them, each sending email through the SendGrid v3 API to its own loopback
/// stand-in. Giving each instance its own stand-in is how the tests tell which instance sent what:
/// the service itself does not say, and should not have to.
/// </summary>
public sealed class ScaleOutCluster : IAsyncDisposable
{
    public const string AdminKey = "scale-out-admin-key-0123456789abcdef";
    private const string SigningKey = "scale-out-signing-key-0123456789abcdefghij";

    private readonly List<AppProcess> _instances = [];
    private readonly List<FakeSendGrid> _sendGrids = [];
    private readonly string _database;
    private readonly PostgresServer _server;

    private ScaleOutCluster(PostgresServer server, string database, string connectionString, IReadOnlyDictionary<string, string?> settings)
    {
        _server = server;
        _database = database;
        ConnectionString = connectionString;
        Settings = settings;
    }

    public string ConnectionString { get; }

    /// <summary>The settings every instance shares, beyond the store and its own SendGrid address.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    public IReadOnlyList<AppProcess> Instances => _instances;

    /// <summary>
    /// Starts <paramref name="instances"/> instances on a new database. Unless
    /// <paramref name="allTogether"/>, the first starts alone and applies the migrations, and the
    /// others then start together.
    /// </summary>
    public static async Task<ScaleOutCluster> StartAsync(int instances, IReadOnlyDictionary<string, string?> settings, bool allTogether = false)
    {
        var server = await PostgresServer.SharedAsync();
        var database = "scaleout" + Guid.NewGuid().ToString("N");
        // Each instance keeps a small pool; the server allows far more than three of them need.
        var connectionString = await server.CreateDatabaseAsync(database, maxPoolSize: 30);
        var cluster = new ScaleOutCluster(server, database, connectionString, settings);
        try
        {
            for (var i = 0; i < instances; i++)
            {
                cluster._sendGrids.Add(await FakeSendGrid.StartAsync());
            }

            var first = allTogether ? 0 : 1;
            if (!allTogether)
            {
                cluster._instances.Add(await AppProcess.StartAsync("instance-1", cluster.SettingsFor(0)));
            }

            var starting = Enumerable.Range(first, instances - first)
                .Select(i => AppProcess.StartAsync($"instance-{(i + 1).ToString(CultureInfo.InvariantCulture)}", cluster.SettingsFor(i))).ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                // Those that did start are stopped with the cluster even when another failed to.
                cluster._instances.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private Dictionary<string, string?> SettingsFor(int instance)
    {
        var all = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = ConnectionString,
            ["Email:Transport"] = "sendgrid",
            ["SendGrid:ApiKey"] = FakeSendGrid.ApiKey,
            ["SendGrid:BaseUrl"] = _sendGrids[instance].BaseUrl.ToString(),
            ["Auth:BootstrapAdminKey"] = AdminKey,
            ["PublicBaseUrl"] = "https://send.example.org",
            ["Certificates:SigningKey"] = SigningKey,
            ["Workflow:RunInBackground"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
        };
        foreach (var (key, value) in Settings)
        {
            all[key] = value;
        }

        return all;
    }

    public HttpClient Admin(int instance) => _instances[instance].Client(AdminKey);

    /// <summary>Publishes a programme through the first instance.</summary>
    public async Task PublishAsync(JsonObject programme)
    {
        using var admin = Admin(0);
        using var response = await admin.PutAsJsonAsync($"/api/v1/programmes/{programme["id"]}", programme);
        Assert.True(response.IsSuccessStatusCode, $"publishing the programme: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>One personalization SendGrid accepted: the enrolment and template it carries as custom_args, and the instance that sent it.</summary>
    public sealed record Delivery(string Enrolment, string Template, int Instance);

    /// <summary>Every personalization every stand-in has accepted so far.</summary>
    public List<Delivery> Deliveries()
    {
        var deliveries = new List<Delivery>();
        for (var i = 0; i < _sendGrids.Count; i++)
        {
            var requests = _sendGrids[i].Requests;
            lock (requests)
            {
                foreach (var request in requests)
                {
                    foreach (var p in request.GetProperty("personalizations").EnumerateArray())
                    {
                        var args = p.GetProperty("custom_args");
                        deliveries.Add(new Delivery(
                            args.TryGetProperty("enrolment", out var enrolment) ? enrolment.GetString()! : "",
                            args.GetProperty("template").GetString()!, i));
                    }
                }
            }
        }

        return deliveries;
    }

    /// <summary>How many requests the instance's stand-in has received: cheap enough to poll.</summary>
    public int RequestsFrom(int instance)
    {
        var requests = _sendGrids[instance].Requests;
        lock (requests)
        {
            return requests.Count;
        }
    }

    /// <summary>Requests any stand-in found against the SendGrid API reference.</summary>
    public IReadOnlyList<string> SendGridViolations() =>
        _sendGrids.SelectMany(s =>
        {
            lock (s.Requests)
            {
                return s.Violations.ToList();
            }
        }).Distinct(StringComparer.Ordinal).ToList();

    public async Task<long> ScalarAsync(string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = p });
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    public async Task<List<T>> RowsAsync<T>(string sql, Func<NpgsqlDataReader, T> read)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    /// <summary>Polls until <paramref name="done"/> holds; a guard against a hang, never a timing assertion.</summary>
    public async Task WaitUntilAsync(string what, Func<Task<bool>> done, TimeSpan guard)
    {
        var until = DateTime.UtcNow + guard;
        while (!await done())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"Gave up waiting for {what} after {guard.TotalSeconds} s.\n{Output()}");
            }

            await Task.Delay(250);
        }
    }

    /// <summary>Every instance's captured output, for failure messages.</summary>
    public string Output() => string.Join("\n", _instances.Select(i => i.Output()));

    /// <summary>Error lines the instances logged.</summary>
    public IReadOnlyList<string> Failures() => _instances.SelectMany(i => i.Failures()).ToList();

    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_instances.Select(i => i.DisposeAsync().AsTask()));
        foreach (var sendGrid in _sendGrids)
        {
            await sendGrid.DisposeAsync();
        }

        try
        {
            await _server.DropDatabaseAsync(_database);
        }
        catch (NpgsqlException)
        {
            // Dropping is tidiness; the server goes with the test process anyway.
        }
    }
}
