using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Hosting;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// The real app in memory, on a real store (<see cref="TestStore"/>: a SQLite file in a temporary
/// directory, or a PostgreSQL database named after it) and a real outbox folder in that directory,
/// with a manual clock and the background loop off (tests drive it with POST /tick).
/// </summary>
public sealed class TestApp : WebApplicationFactory<Program>
{
    public const string AdminKey = "test-admin-key-0123456789abcdefghij";
    public const string Programme = "send-inclusion-core";

    private readonly bool _ownsRoot;
    private readonly Dictionary<string, string?> _settings;

    private readonly Action<IServiceCollection>? _services;
    private readonly Lazy<string> _connectionString;
    private bool _cleanedUp;

    public TestApp(string? root = null, ManualClock? clock = null, Dictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        _services = services;
        _ownsRoot = root is null;
        Root = root ?? Directory.CreateTempSubdirectory("sendworkflows-test-").FullName;
        Clock = clock ?? new ManualClock();
        // Made when the app first starts (or a test first reads the store), not before: an app that is never started needs no database.
        _connectionString = new Lazy<string>(() => TestStore.ConnectionString(Root));
        _settings = new Dictionary<string, string?>
        {
            ["Storage:Provider"] = TestStore.Provider,
            ["Email:Transport"] = "outbox",
            ["Email:OutboxPath"] = OutboxPath,
            ["Auth:BootstrapAdminKey"] = AdminKey,
            ["Workflow:RunInBackground"] = "false",
            ["PublicBaseUrl"] = "https://send.example.org",
            ["Certificates:SigningKeyPath"] = Path.Combine(Root, "signing.key"),
        };
        foreach (var (k, v) in settings ?? [])
        {
            _settings[k] = v;
        }
    }

    public string Root { get; }
    public ManualClock Clock { get; }
    /// <summary>The app's store, for reading and changing it behind the app's back.</summary>
    public string ConnectionString => _connectionString.Value;
    public string OutboxPath => Path.Combine(Root, "outbox");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(_settings)
            .AddInMemoryCollection([new("Storage:ConnectionString", ConnectionString)]));
        builder.ConfigureServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            _services?.Invoke(services);
        });
    }

    public HttpClient Admin() => WithKey(AdminKey);

    public HttpClient Anonymous() => CreateClient();

    public HttpClient WithKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Creates an API client with the given scopes through the API and returns an HttpClient using its key.</summary>
    public async Task<HttpClient> ClientWithScopesAsync(params string[] scopes)
    {
        var (_, key) = await CreateApiClientAsync(scopes);
        return WithKey(key);
    }

    public async Task<(string Id, string Key)> CreateApiClientAsync(params string[] scopes)
    {
        var response = await Admin().PostAsJsonAsync("/api/v1/clients", new { name = "test " + string.Join(",", scopes), scopes });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!);
    }

    public static object Person(string externalId, string school = "100004", string programme = Programme, string? email = null) => new
    {
        programmeId = programme,
        schoolUrn = school,
        staff = new
        {
            externalId,
            givenName = "Zoë",
            familyName = "Brontë-Ødegaard",
            email = email ?? $"{externalId.ToLowerInvariant()}@school{school}.example.org",
            role = "teacher",
        },
    };

    /// <summary>Enrols one person as admin and returns the enrolment id.</summary>
    public async Task<string> EnrolAsync(string externalId, string school = "100004", string programme = Programme)
    {
        var response = await Admin().PostAsJsonAsync("/api/v1/enrolments", Person(externalId, school, programme));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    public async Task<JsonElement> GetEnrolmentAsync(string id)
    {
        var response = await Admin().GetAsync($"/api/v1/enrolments/{id}");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<string> StatusOfAsync(string id) => (await GetEnrolmentAsync(id)).GetProperty("status").GetString()!;

    public async Task<JsonElement> TickAsync()
    {
        var response = await Anonymous().PostAsync("/tick", null);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Publishes a small programme: two required modules, one optional, one live session.</summary>
    public async Task PublishSmallProgrammeAsync(string id = "small", int liveSessions = 1, string window = "P30D")
    {
        var response = await Admin().PutAsJsonAsync($"/api/v1/programmes/{id}", SmallProgramme(id, liveSessions, window));
        response.EnsureSuccessStatusCode();
    }

    public static JsonObject SmallProgramme(string id = "small", int liveSessions = 1, string window = "P30D") => new()
    {
        ["id"] = id,
        ["title"] = "Small programme",
        ["issuer"] = "Test issuer",
        ["modules"] = new JsonArray(
            new JsonObject { ["id"] = "m1", ["title"] = "Module one", ["cpdMinutes"] = 30, ["required"] = true },
            new JsonObject { ["id"] = "m2", ["title"] = "Module two", ["cpdMinutes"] = 45, ["required"] = true },
            new JsonObject { ["id"] = "extra", ["title"] = "Optional extra", ["cpdMinutes"] = 15, ["required"] = false }),
        ["liveSessionsRequired"] = liveSessions,
        ["completionWindow"] = window,
    };

    /// <summary>Creates a live session for the programme starting <paramref name="startsIn"/> from now, one hour long.</summary>
    public async Task PutSessionAsync(string sessionId, string programme, TimeSpan startsIn, int capacity = 10)
    {
        var starts = Clock.GetUtcNow() + startsIn;
        var response = await Admin().PutAsJsonAsync($"/api/v1/sessions/{sessionId}", new
        {
            programmeId = programme, title = "Live session", startsAt = starts, endsAt = starts.AddHours(1), location = "Leeds", capacity,
        });
        response.EnsureSuccessStatusCode();
    }

    public string[] OutboxFiles(string? template = null) =>
        Directory.Exists(OutboxPath)
            ? Directory.GetFiles(OutboxPath, "*.eml").Where(f => template is null || File.ReadAllText(f).Contains($"X-SendWorkflows-Template: {template}\r\n", StringComparison.Ordinal)).Order().ToArray()
            : [];

    public string[] OutboxFilesFor(string enrolmentId, string template) =>
        OutboxFiles(template).Where(f => File.ReadAllText(f).Contains($"X-SendWorkflows-Enrolment: {enrolmentId}\r\n", StringComparison.Ordinal)).ToArray();

    /// <summary>
    /// Reads the store directly, to check what was (and was not) stored. The SQL must mean the same on
    /// SQLite and PostgreSQL (<see cref="TestStore.IsPostgres"/> where it cannot).
    /// </summary>
    public long Scalar(string sql) => long.Parse(Text(sql) ?? throw new InvalidOperationException($"No value: {sql}"), CultureInfo.InvariantCulture);

    /// <summary>The first column of the first row as text; null for SQL NULL or no row.</summary>
    public string? Text(string sql) => TestStore.Text(ConnectionString, sql);

    /// <summary>Changes the store behind the app's back, to stage damage, leftovers or another instance's writes.</summary>
    public void Execute(string sql) => TestStore.Execute(ConnectionString, sql);

    public long Count(string table, string where = "1=1") => Scalar($"SELECT COUNT(*) FROM {table} WHERE {where}");

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    public WorkflowPump Pump => Service<WorkflowPump>();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            CleanUp();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        CleanUp();
    }

    /// <summary>
    /// Closes pooled connections to the file, and removes the temporary folder (and database) this app
    /// made. Data under a folder the test gave is the test's, for the next app it starts there.
    /// </summary>
    private void CleanUp()
    {
        if (_cleanedUp)
        {
            return;
        }

        _cleanedUp = true;
        if (_ownsRoot)
        {
            TestStore.Remove(Root);
        }
        else
        {
            TestStore.Release();
        }
    }
}
