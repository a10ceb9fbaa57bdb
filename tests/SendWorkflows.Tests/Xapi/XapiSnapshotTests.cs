using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using static SendWorkflows.Tests.Xapi.XapiStatementTests;

namespace SendWorkflows.Tests.Xapi;

/// <summary>
/// On SQLite a batch of statements is read and decided on a snapshot before it takes the writer, and
/// written with checks that nothing it read has changed. These stage the races that make the checks
/// matter: another write lands after the batch's reads and before its write.
/// </summary>
public sealed class XapiSnapshotTests
{
    private const string School = "100004";
    private const string Experienced = "http://adlnet.gov/expapi/verbs/experienced";

    /// <summary>
    /// The app on its own SQLite store, seen through <see cref="RecordingStore"/>: the next
    /// <c>races</c> snapshots, when the batch has read and decided on them, run <c>race</c> before the
    /// batch goes on to write.
    /// </summary>
    private sealed class RacedApp : IAsyncDisposable
    {
        private SqliteStore? _inner;
        private int _racesLeft;

        public RacedApp()
        {
            App = new TestApp(services: services => services.AddSingleton(_ =>
            {
                _inner = new SqliteStore(App!.ConnectionString);
                var (store, recorder) = RecordingStore.Wrap(_inner, (method, _) =>
                    method.Name == nameof(IWorkflowStore.BeginSnapshotAsync) && Interlocked.Decrement(ref _racesLeft) >= 0
                        ? Task.FromResult<IStoreSnapshot?>(new RacedSnapshot(_inner.BeginSnapshotAsync(CancellationToken.None).GetAwaiter().GetResult()!,
                            () => Race!()))
                        : null);
                Recorder = recorder;
                return store;
            }));
        }

        public TestApp App { get; }
        public RecordingStore Recorder { get; private set; } = null!;
        public Func<Task>? Race { get; private set; }

        public void RaceNext(int races, Func<Task> race) => (_racesLeft, Race) = (races, race);

        public int Snapshots => Recorder.TakeCalls().Count(c => c == nameof(IWorkflowStore.BeginSnapshotAsync));

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            if (_inner is not null)
            {
                await _inner.DisposeAsync();
            }
        }
    }

    /// <summary>The real snapshot; closing it, once the batch has decided on it, runs the race first.</summary>
    private sealed class RacedSnapshot(IStoreSnapshot inner, Func<Task> race) : IStoreSnapshot
    {
        public Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(
            IReadOnlyCollection<Guid> ids, IReadOnlyCollection<(string SchoolUrn, string ExternalId)> people) => inner.GetEnrolmentsAsync(ids, people);

        public Task<IReadOnlySet<(Guid EnrolmentId, string Key)>> StoredEventKeysAsync(IReadOnlyCollection<(Guid EnrolmentId, string Key)> keys) =>
            inner.StoredEventKeysAsync(keys);

        public Task<IReadOnlyList<StoredXapiStatement>> FindXapiStatementsAsync(IReadOnlyCollection<Guid> ids) => inner.FindXapiStatementsAsync(ids);

        public Task<LiveSession?> GetSessionAsync(string id) => inner.GetSessionAsync(id);

        public async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            await race();
        }
    }

    private static long ModuleEvents(TestApp app, string id) =>
        app.Count("enrolment_events", $"enrolment_id = '{id}' AND type = 'module_completed'");

    private static long Version(TestApp app, string id) => app.Scalar($"SELECT version FROM enrolments WHERE id = '{id}'");

    private static async Task CompleteOnItsOwnAsync(TestApp app, string externalId, string module) =>
        (await app.Admin().PostAsJsonAsync("/api/v1/progress",
            new { programmeId = TestApp.Programme, schoolUrn = School, externalId, moduleId = module, completedAt = app.Clock.GetUtcNow() }))
        .EnsureSuccessStatusCode();

    [Fact]
    public async Task a_batch_whose_enrolment_is_saved_after_its_reads_is_decided_again_and_both_changes_are_kept()
    {
        await using var raced = new RacedApp();
        var app = raced.App;
        var id = await app.EnrolAsync("T-1");
        raced.RaceNext(1, () => CompleteOnItsOwnAsync(app, "T-1", "adaptive-teaching"));

        await IdsAsync(await PostAsync(app.Admin(), new JsonArray(ByRegistration(id, Completed, ModuleIri("identification")))));

        Assert.Equal(2, raced.Snapshots); // the first was overtaken; the second saw the other write
        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "identification"));
        Assert.NotNull(await ModuleCompletedAtAsync(app, id, "adaptive-teaching"));
        Assert.Equal(2, ModuleEvents(app, id));
        Assert.Equal(1 + 2, Version(app, id));
        Assert.Equal(1, app.Count("xapi_statements"));
    }

    [Fact]
    public async Task a_batch_overtaken_on_every_snapshot_is_decided_inside_its_write_at_last()
    {
        await using var raced = new RacedApp();
        var app = raced.App;
        var id = await app.EnrolAsync("T-1");
        var others = new Queue<string>(["adaptive-teaching", "visual-impairment"]);
        raced.RaceNext(2, () => CompleteOnItsOwnAsync(app, "T-1", others.Dequeue()));

        await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Completed, ModuleIri("identification"))));

        Assert.Empty(others);
        Assert.Equal(2, raced.Snapshots); // then the last attempt read inside the write
        Assert.Equal(3, ModuleEvents(app, id));
        Assert.Equal(1 + 3, Version(app, id));
        foreach (var module in new[] { "identification", "adaptive-teaching", "visual-impairment" })
        {
            Assert.NotNull(await ModuleCompletedAtAsync(app, id, module));
        }
    }

    [Fact]
    public async Task a_statement_id_stored_by_another_request_after_the_reads_is_compared_not_dropped()
    {
        await using var raced = new RacedApp();
        var app = raced.App;
        var id = await app.EnrolAsync("T-1");
        var other = await app.EnrolAsync("T-2");
        var statementId = Guid.NewGuid().ToString();
        // Statements that report no progress: no enrolment's version moves, so only the statement id can show the race.
        raced.RaceNext(1, async () => await IdsAsync(await PostAsync(app.Admin(), ByRegistration(id, Experienced, ModuleIri("visual-impairment"), statementId))));
        var (version, otherVersion, otherEvents) = (Version(app, id), Version(app, other), ModuleEvents(app, other));

        var batch = new JsonArray(
            ByRegistration(other, Completed, ModuleIri("identification")),
            ByRegistration(id, Experienced, ModuleIri("adaptive-teaching"), statementId));
        await Problem.AssertAsync(await PostAsync(app.Admin(), batch), HttpStatusCode.Conflict, "[1].id");

        Assert.Equal(1, app.Count("xapi_statements"));
        Assert.Equal(ModuleIri("visual-impairment"), app.Text($"SELECT json_extract(statement, '$.object.id') FROM xapi_statements WHERE id = '{statementId}'"));
        Assert.Equal(version, Version(app, id));
        Assert.Equal((otherVersion, otherEvents), (Version(app, other), ModuleEvents(app, other)));
    }

    [Fact]
    public async Task the_same_statement_stored_by_another_request_after_the_reads_is_kept_once_and_applied_once()
    {
        await using var raced = new RacedApp();
        var app = raced.App;
        var id = await app.EnrolAsync("T-1");
        var statement = ByRegistration(id, Completed, ModuleIri("identification"), Guid.NewGuid().ToString(), app.Clock.GetUtcNow().AddHours(-1));
        raced.RaceNext(1, async () => await IdsAsync(await PostAsync(app.Admin(), statement.DeepClone())));

        await IdsAsync(await PostAsync(app.Admin(), statement.DeepClone()));

        Assert.Equal(1, app.Count("xapi_statements"));
        Assert.Equal(1, ModuleEvents(app, id));
        Assert.Equal(1 + 1, Version(app, id));
    }
}
