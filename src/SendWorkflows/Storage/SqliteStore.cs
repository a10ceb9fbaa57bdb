using System.Data.Common;
using System.Text.Json;
using Dapper;
using Microsoft.Data.Sqlite;
using SendWorkflows.Http;
using SendWorkflows.Workflow;

namespace SendWorkflows.Storage;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. SQLite allows one writer at a time, so writes
/// go through a single long-lived connection guarded by an async lock (no busy-retry storms), while
/// reads use pooled connections and run alongside them.
/// </summary>
/// <remarks>
/// Group commit: each <see cref="BeginAsync"/> unit runs inside a SAVEPOINT of a shared
/// transaction. When a unit finishes and another is already waiting for the writer, the lock passes
/// on without committing; the last unit of a burst (or the hundredth) commits for all of them. A
/// unit's <see cref="IStoreTransaction.CommitAsync"/> returns only after that real COMMIT, so an
/// acknowledged write is as durable as any SQLite commit in this mode (it survives a crash of the
/// process), and a unit that is rolled back undoes only its own savepoint.
/// </remarks>
public sealed class SqliteStore : IWorkflowStore, IAsyncDisposable
{
    private readonly string _connectionString;
    private const int MaxUnitsPerCommit = 100;

    /// <summary>
    /// The writing connection's settings (see <see cref="BeginAsync"/>); the benchmark's SQLite reference runs with them too.
    /// SQLite's own checkpoints are off: <see cref="WalCheckpointer"/> runs them beside the writer.
    /// </summary>
    internal const string WriterPragmas = "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=0;";

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private SqliteTransaction? _group;
    private readonly List<TaskCompletionSource> _awaitingCommit = [];
    private int _unitsInGroup;
    private int _waitingForWriter;
    private readonly ILogger? _log;
    private WalCheckpointer? _checkpointer;

    public SqliteStore(string connectionString, ILogger<SqliteStore>? log = null)
    {
        _log = log;
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (builder.DataSource is { Length: > 0 } path && path != ":memory:" && Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir)
        {
            Directory.CreateDirectory(dir);
        }

        builder.Pooling = true;
        _connectionString = builder.ToString();
    }

    public async Task MigrateAsync(CancellationToken ct)
    {
        await using (var connection = await OpenAsync(ct))
        {
            // WAL is a property of the file: set once, it stays.
            await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
        }

        await using var tx = (WriteTransaction)await BeginAsync(ct);
        await tx.Connection.ExecuteAsync(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);",
            transaction: tx.Transaction);
        var applied = (await tx.Connection.QueryAsync<long>("SELECT version FROM schema_migrations", transaction: tx.Transaction)).ToHashSet();
        foreach (var (version, name, sql) in MigrationScripts.For("sqlite"))
        {
            if (applied.Contains(version))
            {
                continue;
            }

            await tx.Connection.ExecuteAsync(sql, transaction: tx.Transaction);
            await tx.Connection.ExecuteAsync(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @now)",
                new { version, name, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, tx.Transaction);
        }

        await tx.CommitAsync();
    }

    public async Task<IStoreTransaction> BeginAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        // The wait is not cancellable: a unit that finished saw this caller waiting and left the
        // commit to whoever comes next, so every waiter must take its turn. Turns are short.
        Interlocked.Increment(ref _waitingForWriter);
        try
        {
            await _writeLock.WaitAsync(CancellationToken.None);
        }
        finally
        {
            Interlocked.Decrement(ref _waitingForWriter);
        }

        try
        {
            if (_writer is null)
            {
                var writer = new SqliteConnection(_connectionString);
                await writer.OpenAsync(ct);
                // NORMAL in WAL mode survives a process crash without losing a committed
                // transaction; only a power cut can lose the last few, which is the trade SQLite documents.
                // The writer keeps 32 MB of pages rather than the default 2 MB: a sweep batch, a bulk
                // enrolment or a batch of xAPI statements touches index pages all over a large file, and
                // rereading them from the file is much of what such a batch costs. A 1,000-statement batch
                // in a file of 1,000,000 enrolments changes about 5,000 pages (20 MB): with 16 MB the
                // benchmark's raw reference did ~5,000 statements/s, with 32 MB ~6,000, with 64 MB ~6,300,
                // each megabyte also held in memory. The WAL is copied back into the file by
                // WalCheckpointer on a thread of its own, not by the commit that fills it (checkpoints
                // are when SQLite syncs in this mode, so durability is unchanged).
                await writer.ExecuteAsync(WriterPragmas);
                _writer = writer;
                if (await writer.ExecuteScalarAsync<string>("PRAGMA journal_mode") == "wal")
                {
                    _checkpointer = new WalCheckpointer(_connectionString, _log);
                }
            }

            if (_group is null)
            {
                _checkpointer?.RestartIfLong(_writer);
                _group = _writer.BeginTransaction(deferred: false);
            }

            await _writer.ExecuteAsync("SAVEPOINT unit", transaction: _group);
            _unitsInGroup++;
            return new WriteTransaction(this, _writer, _group);
        }
        catch (Exception e)
        {
            await AbortGroupAsync(e);
            throw;
        }
    }

    /// <summary>Rolls back the whole shared transaction, failing every unit waiting for its commit, and passes the writer on.</summary>
    private async Task AbortGroupAsync(Exception cause)
    {
        try
        {
            var members = _awaitingCommit.ToArray();
            _awaitingCommit.Clear();
            _unitsInGroup = 0;
            foreach (var member in members)
            {
                member.TrySetException(cause);
            }

            if (_group is { } group)
            {
                _group = null;
                try
                {
                    await group.RollbackAsync();
                }
                finally
                {
                    await group.DisposeAsync();
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Ends the current unit and passes the writer on. The shared transaction is committed unless
    /// another unit is already waiting and the group is not yet full.
    /// </summary>
    private async Task EndUnitAsync(TaskCompletionSource? awaitingCommit)
    {
        try
        {
            if (awaitingCommit is not null)
            {
                _awaitingCommit.Add(awaitingCommit);
            }

            if (_group is not null && (Volatile.Read(ref _waitingForWriter) == 0 || _unitsInGroup >= MaxUnitsPerCommit))
            {
                var group = _group;
                var members = _awaitingCommit.ToArray();
                _group = null;
                _awaitingCommit.Clear();
                _unitsInGroup = 0;
                try
                {
                    await group.CommitAsync();
                    _checkpointer?.Committed(WalCheckpointer.PagesWritten(_writer!));
                    foreach (var member in members)
                    {
                        member.TrySetResult();
                    }
                }
                catch (Exception e)
                {
                    foreach (var member in members)
                    {
                        member.TrySetException(e);
                    }
                }
                finally
                {
                    await group.DisposeAsync();
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        return connection;
    }

    private async Task<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> query, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await query(connection);
    }

    public Task<StoredEnrolment?> GetEnrolmentAsync(Guid id, CancellationToken ct) =>
        ReadAsync(c => Sql.GetEnrolmentAsync(c, null, id), ct);

    public Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        ids.Count == 0
            ? Task.FromResult<IReadOnlyList<StoredEnrolment>>([])
            : ReadAsync<IReadOnlyList<StoredEnrolment>>(async c => (await c.QueryAsync<EnrolmentRow>(
                    "SELECT state, version, next_wake_at AS NextWakeAt FROM enrolments WHERE id IN (SELECT value FROM json_each(@ids))",
                    new { ids = JsonSerializer.Serialize(ids.Select(i => i.ToString()).Distinct()) }))
                .Select(r => r.ToEnrolment()).ToList(), ct);

    /// <summary>One unit (one commit) for the whole batch; see <see cref="WriteTransaction.SaveDecisionsAsync"/>.</summary>
    public async Task<IReadOnlyList<SaveOutcome>> SaveDecisionsAsync(IReadOnlyList<DecisionWrite> writes, DateTimeOffset now, CancellationToken ct)
    {
        if (writes.Count == 0)
        {
            return [];
        }

        await using var tx = (WriteTransaction)await BeginAsync(ct);
        var outcomes = await tx.SaveDecisionsAsync(writes, now);
        await tx.CommitAsync();
        return outcomes;
    }

    public Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId, CancellationToken ct) =>
        ReadAsync(c => Sql.FindEnrolmentIdAsync(c, null, programmeId, schoolUrn, externalId), ct);

    /// <summary>No claim is written: one process owns the file, and its sweep is single-flight.</summary>
    public Task<IReadOnlyList<Guid>> DueEnrolmentsAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<Guid>>(async c => (await c.QueryAsync<string>(
            "SELECT id FROM enrolments WHERE next_wake_at <= @now ORDER BY next_wake_at LIMIT @limit",
            new { now = Ms(now), limit })).Select(Guid.Parse).ToList(), ct);

    public Task<bool> HasDueWorkAsync(DateTimeOffset now, CancellationToken ct) =>
        ReadAsync(c => c.ExecuteScalarAsync<bool>(
            """
            SELECT EXISTS (SELECT 1 FROM enrolments WHERE next_wake_at <= @now)
                OR EXISTS (SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_at <= @now)
            """, new { now = Ms(now) }), ct);

    public Task<ApiClient?> FindClientByKeyHashAsync(string keyHash, CancellationToken ct) =>
        ReadAsync(async c => (await c.QueryAsync<ClientRow>(
            "SELECT id, name, scopes, created_at AS CreatedAt, revoked_at AS RevokedAt FROM api_clients WHERE key_hash = @keyHash",
            new { keyHash })).Select(r => r.ToClient()).FirstOrDefault(), ct);

    public Task<bool> AnyAdminClientAsync(CancellationToken ct) =>
        ReadAsync(c => c.ExecuteScalarAsync<bool>(
            "SELECT EXISTS (SELECT 1 FROM api_clients WHERE revoked_at IS NULL AND (' ' || scopes || ' ') LIKE '% admin %')"), ct);

    public Task<StoredProgramme?> GetProgrammeAsync(string id, int? version, CancellationToken ct) =>
        ReadAsync(async c => (await c.QueryAsync<ProgrammeRow>(
            version is null
                ? "SELECT id, version, definition, created_at AS CreatedAt FROM programmes WHERE id = @id ORDER BY version DESC LIMIT 1"
                : "SELECT id, version, definition, created_at AS CreatedAt FROM programmes WHERE id = @id AND version = @version",
            new { id, version })).Select(r => new StoredProgramme(r.Id, (int)r.Version, r.Definition, At(r.CreatedAt))).FirstOrDefault(), ct);

    public Task<LiveSession?> GetSessionAsync(string id, CancellationToken ct) =>
        ReadAsync(c => Sql.GetSessionAsync(c, null, id), ct);

    public Task<int> CountActiveBookingsAsync(string sessionId, CancellationToken ct) =>
        ReadAsync(c => Sql.CountActiveBookingsAsync(c, null, sessionId), ct);

    public Task<IReadOnlyList<OutboxItem>> ListOutboxAsync(string? status, Guid? enrolmentId, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<OutboxItem>>(async c => (await c.QueryAsync<OutboxRow>(
            $"""
             SELECT {Sql.OutboxColumns} FROM outbox
             WHERE (@status IS NULL OR status = @status) AND (@enrolmentId IS NULL OR enrolment_id = @enrolmentId)
             ORDER BY id LIMIT @limit
             """,
            new { status, enrolmentId = enrolmentId?.ToString(), limit })).Select(r => r.ToItem()).ToList(), ct);

    public Task<StoredResponse?> FindResponseAsync(Guid clientId, string key, CancellationToken ct) =>
        ReadAsync(async c => (await c.QueryAsync<ResponseRow>(
            "SELECT request_hash AS RequestHash, status_code AS StatusCode, content_type AS ContentType, body FROM idempotent_requests WHERE client_id = @clientId AND key = @key",
            new { clientId = clientId.ToString(), key })).Select(r => new StoredResponse(r.RequestHash, (int?)r.StatusCode, r.ContentType, r.Body)).FirstOrDefault(), ct);

    public Task<StoredCertificate?> GetCertificateAsync(string number, bool withPdf, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, null, "number = @number", new { number }, withPdf), ct);

    public Task<IReadOnlySet<string>> SuppressedAmongAsync(IReadOnlyCollection<string> emails, CancellationToken ct) =>
        emails.Count == 0
            ? Task.FromResult<IReadOnlySet<string>>(new HashSet<string>())
            : ReadAsync<IReadOnlySet<string>>(async c => (await c.QueryAsync<string>(
                "SELECT email FROM suppressions WHERE email IN (SELECT value FROM json_each(@emails))",
                new { emails = JsonSerializer.Serialize(emails.Select(e => e.ToLowerInvariant()).Distinct()) })).ToHashSet(StringComparer.Ordinal), ct);

    public Task<IReadOnlyList<ReminderStanding>> ReminderStandingsAsync(IReadOnlyCollection<Guid> enrolmentIds, CancellationToken ct) =>
        enrolmentIds.Count == 0
            ? Task.FromResult<IReadOnlyList<ReminderStanding>>([])
            : ReadAsync<IReadOnlyList<ReminderStanding>>(async c => (await c.QueryAsync<(string Id, long Completed, long Withdrawn, long Off, long Bounced, long Started)>(
                """
                SELECT id,
                       json_extract(state, '$.completedAt') IS NOT NULL,
                       json_extract(state, '$.withdrawnAt') IS NOT NULL,
                       COALESCE(json_extract(state, '$.remindersOff'), 0),
                       json_extract(state, '$.emailBouncedAt') IS NOT NULL,
                       status <> 'enrolled'
                FROM enrolments WHERE id IN (SELECT value FROM json_each(@ids))
                """, new { ids = JsonSerializer.Serialize(enrolmentIds.Select(i => i.ToString()).Distinct()) }))
                .Select(r => new ReminderStanding(Guid.Parse(r.Id), r.Completed != 0, r.Withdrawn != 0, r.Off != 0, r.Bounced != 0, r.Started != 0)).ToList(), ct);

    public Task<IReadOnlyList<EmailDelivery>> DeliveriesAsync(Guid enrolmentId, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<EmailDelivery>>(async c => (await c.QueryAsync<DeliveryRow>(
                "SELECT event_id AS EventId, enrolment_id AS EnrolmentId, template, event, occurred_at AS OccurredAt, detail FROM email_deliveries WHERE enrolment_id = @id ORDER BY occurred_at",
                new { id = enrolmentId.ToString() }))
            .Select(r => new EmailDelivery(r.EventId, r.EnrolmentId is null ? null : Guid.Parse(r.EnrolmentId), r.Template, r.Event, At(r.OccurredAt), r.Detail)).ToList(), ct);

    public Task<StoredCertificate?> FindCertificateBySha256Async(string sha256, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, null, "sha256 = @sha256", new { sha256 }, withPdf: false), ct);

    public Task<StoredCertificate?> CurrentCertificateAsync(Guid enrolmentId, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, null,
            "enrolment_id = @enrolmentId ORDER BY version DESC LIMIT 1", new { enrolmentId = enrolmentId.ToString() }, withPdf: false), ct);

    public async IAsyncEnumerable<StoredCertificate> CurrentCertificatesForSchoolAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // Unbuffered: a school's certificates are streamed one at a time, never all held in memory.
        var rows = connection.QueryUnbufferedAsync<CertificateRow>(
            $"SELECT {Sql.CertificateColumns}, pdf FROM certificates WHERE school_urn = @schoolUrn AND status = 'valid' ORDER BY number",
            new { schoolUrn });
        await foreach (var row in rows.WithCancellation(ct))
        {
            yield return row.ToCertificate();
        }
    }

    public Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(string schoolUrn, CancellationToken ct) =>
        ReadAsync(c => Sql.SchoolContactsAsync(c, null, schoolUrn), ct);

    public Task<SchoolContact?> GetSchoolContactAsync(Guid id, CancellationToken ct) =>
        ReadAsync(async c => (await c.QuerySingleOrDefaultAsync<SchoolContactRow>(
            $"SELECT {Sql.SchoolContactColumns} FROM school_contacts WHERE id = @id", new { id = id.ToString() }))?.ToContact(), ct);

    public Task<IReadOnlyList<string>> SchoolsAwaitingDigestAsync(DateOnly weekStart, string? afterUrn, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<string>>(async c => (await c.QueryAsync<string>(
            """
            SELECT DISTINCT school_urn FROM school_contacts c
            WHERE (@afterUrn IS NULL OR school_urn > @afterUrn)
              AND NOT EXISTS (SELECT 1 FROM school_digests d WHERE d.school_urn = c.school_urn AND d.week_start = @weekStart)
            ORDER BY school_urn LIMIT @limit
            """,
            new { weekStart = Day(weekStart), afterUrn, limit })).ToList(), ct);

    public async IAsyncEnumerable<EnrolmentState> UnfinishedEnrolmentsAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // Unbuffered: a large college's staff are read one at a time, never all held in memory.
        var rows = connection.QueryUnbufferedAsync<string>(
            "SELECT state FROM enrolments WHERE school_urn = @schoolUrn AND status NOT IN (@completed, @withdrawn)",
            new { schoolUrn, completed = StatusName(EnrolmentStatus.Completed), withdrawn = StatusName(EnrolmentStatus.Withdrawn) });
        await foreach (var state in rows.WithCancellation(ct))
        {
            yield return JsonSerializer.Deserialize<EnrolmentState>(state, JsonBody.Options)!;
        }
    }

    public Task<IReadOnlyList<WebhookSubscription>> WebhookSubscriptionsAsync(Guid clientId, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<WebhookSubscription>>(async c => (await c.QueryAsync<WebhookSubscriptionRow>(
            $"SELECT {Sql.WebhookSubscriptionColumns} FROM webhook_subscriptions WHERE client_id = @clientId ORDER BY created_at, rowid",
            new { clientId = clientId.ToString() })).Select(r => r.ToSubscription()).ToList(), ct);

    public Task<WebhookSubscription?> GetWebhookSubscriptionAsync(Guid clientId, Guid id, CancellationToken ct) =>
        ReadAsync(async c => (await c.QuerySingleOrDefaultAsync<WebhookSubscriptionRow>(
            $"SELECT {Sql.WebhookSubscriptionColumns} FROM webhook_subscriptions WHERE id = @id AND client_id = @clientId",
            new { id = id.ToString(), clientId = clientId.ToString() }))?.ToSubscription(), ct);

    public Task<IReadOnlyDictionary<Guid, WebhookTarget>> WebhookTargetsAsync(IReadOnlyCollection<Guid> subscriptionIds, CancellationToken ct) =>
        subscriptionIds.Count == 0
            ? Task.FromResult<IReadOnlyDictionary<Guid, WebhookTarget>>(new Dictionary<Guid, WebhookTarget>())
            : ReadAsync<IReadOnlyDictionary<Guid, WebhookTarget>>(async c => (await c.QueryAsync<(string Id, string Url, string Secret, long? DisabledAt, long? RevokedAt)>(
                """
                SELECT s.id, s.url, s.secret, s.disabled_at, c.revoked_at
                FROM webhook_subscriptions s JOIN api_clients c ON c.id = s.client_id
                WHERE s.id IN (SELECT value FROM json_each(@ids))
                """, new { ids = JsonSerializer.Serialize(subscriptionIds.Select(i => i.ToString()).Distinct()) }))
                .ToDictionary(r => Guid.Parse(r.Id), r => new WebhookTarget(Guid.Parse(r.Id), r.Url, r.Secret,
                    r.DisabledAt is not null ? "the subscription is disabled."
                    : r.RevokedAt is not null ? "the API client that subscribed was revoked."
                    : null)), ct);

    public Task<IReadOnlyList<WebhookAttempt>> WebhookAttemptsAsync(Guid subscriptionId, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<WebhookAttempt>>(async c => (await c.QueryAsync<WebhookAttemptRow>(
            """
            SELECT subscription_id AS SubscriptionId, outbox_id AS OutboxId, event_type AS EventType, webhook_id AS WebhookId, attempt,
                   attempted_at AS AttemptedAt, status_code AS StatusCode, error, outcome, next_attempt_at AS NextAttemptAt
            FROM webhook_deliveries WHERE subscription_id = @id ORDER BY id DESC LIMIT @limit
            """, new { id = subscriptionId.ToString(), limit })).Select(r => r.ToAttempt()).ToList(), ct);

    public async IAsyncEnumerable<ReportedEnrolment> SchoolReportAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // Unbuffered, like the digest: a large college's report is written out as it is read.
        var rows = connection.QueryUnbufferedAsync<ReportRow>(
            """
            SELECT e.state, c.number AS CertificateNumber, c.status AS CertificateStatus
            FROM enrolments e
            LEFT JOIN certificates c ON c.enrolment_id = e.id
                AND c.version = (SELECT MAX(version) FROM certificates WHERE enrolment_id = e.id)
            WHERE e.school_urn = @schoolUrn
            ORDER BY json_extract(e.state, '$.staff.familyName') COLLATE NOCASE, json_extract(e.state, '$.staff.givenName') COLLATE NOCASE,
                     e.external_id, e.programme_id
            """,
            new { schoolUrn });
        await foreach (var row in rows.WithCancellation(ct))
        {
            yield return new ReportedEnrolment(JsonSerializer.Deserialize<EnrolmentState>(row.State, JsonBody.Options)!, row.CertificateNumber, row.CertificateStatus);
        }
    }

    public Task<string?> LocalAuthorityAsync(string schoolUrn, CancellationToken ct) =>
        ReadAsync(c => c.QuerySingleOrDefaultAsync<string?>(
            "SELECT local_authority FROM school_details WHERE school_urn = @schoolUrn", new { schoolUrn }), ct);

    public async Task<StoredProgressSummary> ProgressSummaryAsync(IReadOnlyCollection<string> reminderTemplates, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // One deferred (read) transaction: every figure comes from the same snapshot of the file, and the writer is never waited for.
        await using var snapshot = connection.BeginTransaction(deferred: true);
        // Statuses per school from the (school_urn, status) index, then the schools' local authorities.
        var counts = await connection.QueryAsync<(string? La, string Status, long Count)>(
            """
            SELECT d.local_authority, p.status, SUM(p.n)
            FROM (SELECT school_urn, status, COUNT(*) AS n FROM enrolments GROUP BY school_urn, status) p
            LEFT JOIN school_details d ON d.school_urn = p.school_urn
            GROUP BY d.local_authority, p.status
            """, transaction: snapshot);
        var schools = (await connection.QueryAsync<(string? La, long Count)>(
            """
            SELECT d.local_authority, COUNT(*)
            FROM (SELECT DISTINCT school_urn FROM enrolments) s LEFT JOIN school_details d ON d.school_urn = s.school_urn
            GROUP BY d.local_authority
            """, transaction: snapshot)).ToDictionary(r => r.La ?? "", r => r.Count);
        // Medians of the days from enrolment to completion: the middle value, or the mean of the middle two;
        // per local authority and nationally, from one read of the completed enrolments' states.
        var medians = (await connection.QueryAsync<(long National, string? La, double? Days)>(
            $"""
             WITH durations AS MATERIALIZED ({CompletionDays}),
             ranked AS (SELECT la, days, ROW_NUMBER() OVER (PARTITION BY la ORDER BY days) AS rn, COUNT(*) OVER (PARTITION BY la) AS n FROM durations),
             national AS (SELECT days, ROW_NUMBER() OVER (ORDER BY days) AS rn, COUNT(*) OVER () AS n FROM durations)
             SELECT 0, la, AVG(days) FROM ranked WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY la
             UNION ALL
             SELECT 1, NULL, AVG(days) FROM national WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
             """, transaction: snapshot)).ToList();
        var nationalMedian = medians.Single(m => m.National == 1).Days;
        var areaMedians = medians.Where(m => m.National == 0).ToDictionary(m => m.La ?? "", m => m.Days);
        var nudges = (await connection.QueryAsync<(string? La, long Count)>(
            """
            SELECT d.local_authority, COUNT(*)
            FROM outbox o
            JOIN enrolments e ON e.id = o.enrolment_id
            LEFT JOIN school_details d ON d.school_urn = e.school_urn
            WHERE o.kind = 'email' AND o.status = 'sent' AND o.template IN (SELECT value FROM json_each(@templates))
            GROUP BY d.local_authority
            """, new { templates = JsonSerializer.Serialize(reminderTemplates) }, snapshot)).ToDictionary(r => r.La ?? "", r => r.Count);
        await snapshot.CommitAsync(ct);

        var areas = counts.GroupBy(r => r.La ?? "", StringComparer.Ordinal)
            .Select(g => new AreaSummary(g.Key.Length == 0 ? null : g.Key,
                g.ToDictionary(r => r.Status, r => r.Count, StringComparer.Ordinal),
                schools.GetValueOrDefault(g.Key),
                areaMedians.GetValueOrDefault(g.Key),
                nudges.GetValueOrDefault(g.Key)))
            .ToList();
        return new StoredProgressSummary(areas, nationalMedian);
    }

    /// <summary>Each completed enrolment's local authority and days from enrolment to completion, from its state.</summary>
    private const string CompletionDays =
        """
        SELECT d.local_authority AS la,
               julianday(json_extract(e.state, '$.completedAt')) - julianday(json_extract(e.state, '$.enrolledAt')) AS days
        FROM enrolments e LEFT JOIN school_details d ON d.school_urn = e.school_urn
        WHERE e.status = 'completed'
        """;

    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_group is not null)
            {
                await _group.CommitAsync();
                _group = null;
                foreach (var member in _awaitingCommit)
                {
                    member.TrySetResult();
                }

                _awaitingCommit.Clear();
            }

            // The checkpoints' thread stops first; closing the writer then checkpoints whatever is left.
            _checkpointer?.Dispose();
            _checkpointer = null;
            if (_writer is not null)
            {
                await _writer.DisposeAsync();
                _writer = null;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    internal static long Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    internal static long? Ms(DateTimeOffset? at) => at?.ToUnixTimeMilliseconds();

    internal static DateTimeOffset At(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    internal static DateTimeOffset? At(long? ms) => ms is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms.Value);

    /// <summary>A calendar date (not a moment) as stored: yyyy-MM-dd.</summary>
    internal static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Queries shared by reads and transactions.</summary>
    internal static class Sql
    {
        public const string OutboxColumns =
            "id, dedupe_key AS DedupeKey, enrolment_id AS EnrolmentId, kind, template, payload, status, attempts, " +
            "next_attempt_at AS NextAttemptAt, last_error AS LastError, created_at AS CreatedAt, sent_at AS SentAt";

        public static async Task<StoredEnrolment?> GetEnrolmentAsync(DbConnection c, DbTransaction? tx, Guid id)
        {
            var row = await c.QuerySingleOrDefaultAsync<EnrolmentRow>(
                "SELECT state, version, next_wake_at AS NextWakeAt FROM enrolments WHERE id = @id", new { id = id.ToString() }, tx);
            return row?.ToEnrolment();
        }

        public static async Task<Guid?> FindEnrolmentIdAsync(DbConnection c, DbTransaction? tx, string programmeId, string schoolUrn, string externalId)
        {
            var id = await c.QuerySingleOrDefaultAsync<string>(
                "SELECT id FROM enrolments WHERE programme_id = @programmeId AND school_urn = @schoolUrn AND external_id = @externalId",
                new { programmeId, schoolUrn, externalId }, tx);
            return id is null ? null : Guid.Parse(id);
        }

        public static async Task<LiveSession?> GetSessionAsync(DbConnection c, DbTransaction? tx, string id) =>
            (await c.QuerySingleOrDefaultAsync<SessionRow>(
                "SELECT id, programme_id AS ProgrammeId, title, starts_at AS StartsAt, ends_at AS EndsAt, location, capacity FROM live_sessions WHERE id = @id",
                new { id }, tx))?.ToSession();

        public const string CertificateColumns =
            "number, enrolment_id AS EnrolmentId, version, school_urn AS SchoolUrn, status, details, sha256, " +
            "issued_at AS IssuedAt, revoked_at AS RevokedAt, revoked_reason AS RevokedReason";

        public static async Task<StoredCertificate?> QueryCertificateAsync(DbConnection c, DbTransaction? tx, string where, object args, bool withPdf) =>
            (await c.QuerySingleOrDefaultAsync<CertificateRow>(
                $"SELECT {CertificateColumns}{(withPdf ? ", pdf" : "")} FROM certificates WHERE {where}", args, tx))?.ToCertificate();

        public static Task<int> CountActiveBookingsAsync(DbConnection c, DbTransaction? tx, string sessionId) =>
            c.ExecuteScalarAsync<int>("SELECT COUNT(*) FROM session_bookings WHERE session_id = @sessionId AND status = 'booked'",
                new { sessionId }, tx);

        public const string WebhookSubscriptionColumns =
            "id, client_id AS ClientId, url, events, secret, created_at AS CreatedAt, disabled_at AS DisabledAt, disabled_reason AS DisabledReason";

        public const string SchoolContactColumns = "id, school_urn AS SchoolUrn, name, email, created_at AS CreatedAt";

        public static async Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(DbConnection c, DbTransaction? tx, string schoolUrn) =>
            (await c.QueryAsync<SchoolContactRow>(
                $"SELECT {SchoolContactColumns} FROM school_contacts WHERE school_urn = @schoolUrn ORDER BY created_at, id",
                new { schoolUrn }, tx)).Select(r => r.ToContact()).ToList();
    }

    /// <summary>One unit of work: a savepoint in the shared write transaction.</summary>
    private sealed class WriteTransaction(SqliteStore store, SqliteConnection connection, SqliteTransaction transaction)
        : IStoreTransaction
    {
        private bool _ended;

        public SqliteConnection Connection => connection;
        public SqliteTransaction Transaction => transaction;

        public Task<StoredEnrolment?> GetEnrolmentAsync(Guid id) => Sql.GetEnrolmentAsync(connection, transaction, id);

        public Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId) =>
            Sql.FindEnrolmentIdAsync(connection, transaction, programmeId, schoolUrn, externalId);

        /// <summary>
        /// A statement prepared once and run for each row of a batch: on an in-process file a batch
        /// costs its rows' work, not a parse and plan per row.
        /// </summary>
        private SqliteCommand Prepared(string sql, params string[] parameters)
        {
            var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var name in parameters)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            command.Prepare();
            return command;
        }

        private static object Db(object? value) => value ?? DBNull.Value;

        public Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(
            IReadOnlyCollection<Guid> ids, IReadOnlyCollection<(string SchoolUrn, string ExternalId)> people)
        {
            var found = new Dictionary<Guid, StoredEnrolment>();
            using (var byId = Prepared("SELECT id, state, version, next_wake_at FROM enrolments WHERE id = $id", "$id"))
            {
                foreach (var id in ids)
                {
                    byId.Parameters[0].Value = id.ToString();
                    Read(byId);
                }
            }

            using (var byPerson = Prepared("SELECT id, state, version, next_wake_at FROM enrolments WHERE school_urn = $school AND external_id = $external",
                       "$school", "$external"))
            {
                foreach (var (school, external) in people)
                {
                    byPerson.Parameters[0].Value = school;
                    byPerson.Parameters[1].Value = external;
                    Read(byPerson);
                }
            }

            return Task.FromResult<IReadOnlyList<StoredEnrolment>>(found.Values.ToList());

            void Read(SqliteCommand command)
            {
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var id = Guid.Parse(reader.GetString(0));
                    if (!found.ContainsKey(id))
                    {
                        // The state's UTF-8 as SQLite holds it, parsed as it is rather than made a string first.
                        found[id] = new StoredEnrolment(JsonSerializer.Deserialize<EnrolmentState>(reader.GetFieldValue<byte[]>(1), JsonBody.Options)!,
                            reader.GetInt64(2), reader.IsDBNull(3) ? null : At(reader.GetInt64(3)));
                    }
                }
            }
        }

        public Task<IReadOnlySet<(Guid EnrolmentId, string Key)>> StoredEventKeysAsync(IReadOnlyCollection<(Guid EnrolmentId, string Key)> keys)
        {
            var stored = new HashSet<(Guid, string)>();
            using var query = Prepared("SELECT 1 FROM enrolment_events WHERE enrolment_id = $enrolment AND event_key = $key", "$enrolment", "$key");
            foreach (var (enrolmentId, key) in keys)
            {
                query.Parameters[0].Value = enrolmentId.ToString();
                query.Parameters[1].Value = key;
                if (query.ExecuteScalar() is not null)
                {
                    stored.Add((enrolmentId, key));
                }
            }

            return Task.FromResult<IReadOnlySet<(Guid, string)>>(stored);
        }

        public async Task<bool> SaveDecisionsAsync(DecisionBatch batch, DateTimeOffset now)
        {
            // As in the sweep: a status that did not change is not set again, which would rewrite the
            // enrolment's entry in the (school, status) index for nothing.
            using (var update = Prepared(
                       """
                       UPDATE enrolments SET state = $state, version = $version, next_wake_at = $wake, updated_at = $now
                       WHERE id = $id AND version = $expected
                       """, "$id", "$expected", "$version", "$state", "$wake", "$now"))
            using (var updateWithStatus = Prepared(
                       """
                       UPDATE enrolments SET status = $status, state = $state, version = $version, next_wake_at = $wake, updated_at = $now
                       WHERE id = $id AND version = $expected
                       """, "$id", "$expected", "$version", "$state", "$wake", "$now", "$status"))
            {
                update.Parameters[5].Value = Ms(now);
                updateWithStatus.Parameters[5].Value = Ms(now);
                foreach (var write in batch.States)
                {
                    var command = write.ReadStatus == write.State.Status ? update : updateWithStatus;
                    command.Parameters[0].Value = write.State.Id.ToString();
                    command.Parameters[1].Value = write.ExpectedVersion;
                    command.Parameters[2].Value = write.Version;
                    command.Parameters[3].Value = JsonSerializer.Serialize(write.State, JsonBody.Options);
                    command.Parameters[4].Value = Db(Ms(write.NextWakeAt));
                    if (command == updateWithStatus)
                    {
                        command.Parameters[6].Value = StatusName(write.State.Status);
                    }

                    if (command.ExecuteNonQuery() != 1)
                    {
                        return false;
                    }
                }
            }

            using (var append = Prepared(
                       """
                       INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
                       VALUES ($enrolment, $key, $type, $payload, $now)
                       ON CONFLICT (enrolment_id, event_key) DO NOTHING
                       """, "$enrolment", "$key", "$type", "$payload", "$now"))
            {
                append.Parameters[4].Value = Ms(now);
                foreach (var e in batch.Events)
                {
                    append.Parameters[0].Value = e.EnrolmentId.ToString();
                    append.Parameters[1].Value = e.Key;
                    append.Parameters[2].Value = EventKeys.TypeName(e.Event);
                    append.Parameters[3].Value = JsonSerializer.Serialize(e.Event, JsonBody.Options);
                    append.ExecuteNonQuery();
                }
            }

            await EnqueueAsync(batch.Effects, now);
            return true;
        }

        public async Task<bool> InsertEnrolmentAsync(EnrolmentState state, DateTimeOffset? nextWakeAt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO enrolments (id, programme_id, programme_version, school_urn, external_id, status, state, version, next_wake_at, created_at, updated_at)
                VALUES (@id, @programmeId, @programmeVersion, @schoolUrn, @externalId, @status, @state, 1, @nextWakeAt, @now, @now)
                ON CONFLICT (programme_id, school_urn, external_id) DO NOTHING
                """,
                new
                {
                    id = state.Id.ToString(), programmeId = state.ProgrammeId, programmeVersion = state.ProgrammeVersion,
                    schoolUrn = state.SchoolUrn, externalId = state.Staff.ExternalId, status = StatusName(state.Status),
                    state = JsonSerializer.Serialize(state, JsonBody.Options), nextWakeAt = Ms(nextWakeAt), now = Ms(now),
                }, transaction) == 1;

        /// <summary>Row by row: statements on an in-process file cost microseconds, so there is nothing to batch.</summary>
        public async Task<IReadOnlySet<Guid>> InsertEnrolmentsAsync(IReadOnlyList<NewEnrolment> enrolments, DateTimeOffset now)
        {
            var inserted = new HashSet<Guid>();
            foreach (var e in enrolments)
            {
                if (await InsertEnrolmentAsync(e.State, e.NextWakeAt, now))
                {
                    await AppendEventAsync(e.State.Id, e.EventKey, e.Event, now);
                    await EnqueueEffectsAsync(e.State.Id, e.Effects, now);
                    inserted.Add(e.State.Id);
                }
            }

            return inserted;
        }

        public async Task<bool> UpdateEnrolmentAsync(EnrolmentState state, long expectedVersion, DateTimeOffset? nextWakeAt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                UPDATE enrolments SET status = @status, state = @state, version = version + 1, next_wake_at = @nextWakeAt, updated_at = @now
                WHERE id = @id AND version = @expectedVersion
                """,
                new
                {
                    id = state.Id.ToString(), status = StatusName(state.Status), state = JsonSerializer.Serialize(state, JsonBody.Options),
                    expectedVersion, nextWakeAt = Ms(nextWakeAt), now = Ms(now),
                }, transaction) == 1;

        /// <summary>
        /// Saves each decision as <see cref="IWorkflowStore.SaveDecisionAsync"/> would, inside this unit.
        /// The unit holds the only writer, so nothing can change between a check and its write: a repeated
        /// event, and then a moved version, are looked for first, and a decision that meets either writes
        /// nothing at all. The statements are prepared once and run for every decision instead of being
        /// parsed again each time, which is most of what a row costs on an in-process file.
        /// </summary>
        public async Task<IReadOnlyList<SaveOutcome>> SaveDecisionsAsync(IReadOnlyList<DecisionWrite> writes, DateTimeOffset now)
        {
            var at = Ms(now);
            await using var repeated = Prepared(
                "SELECT EXISTS (SELECT 1 FROM enrolment_events WHERE enrolment_id = $id AND event_key = $key)", "$id", "$key");
            // Most timers leave the status as it was: setting it anyway would rewrite the enrolment's
            // entry in the (school, status) index, a page write per row, so it is set only when it differs.
            await using var update = Prepared(
                """
                UPDATE enrolments SET state = $state, version = version + 1, next_wake_at = $wake, updated_at = $now
                WHERE id = $id AND version = $expected AND status = $status
                """, "$id", "$expected", "$status", "$state", "$wake", "$now");
            await using var updateWithStatus = Prepared(
                """
                UPDATE enrolments SET status = $status, state = $state, version = version + 1, next_wake_at = $wake, updated_at = $now
                WHERE id = $id AND version = $expected
                """, "$id", "$expected", "$status", "$state", "$wake", "$now");
            await using var append = Prepared(
                """
                INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
                VALUES ($id, $key, $type, $payload, $now)
                """, "$id", "$key", "$type", "$payload", "$now");

            var outcomes = new SaveOutcome[writes.Count];
            for (var i = 0; i < writes.Count; i++)
            {
                var write = writes[i];
                var id = write.State.Id.ToString();
                if (await Run(repeated, id, write.EventKey).ExecuteScalarAsync() is long and not 0)
                {
                    outcomes[i] = SaveOutcome.Duplicate;
                    continue;
                }

                object?[] values = [id, write.ExpectedVersion, StatusName(write.State.Status), JsonSerializer.Serialize(write.State, JsonBody.Options),
                    Ms(write.NextWakeAt), at];
                if (await Run(update, values).ExecuteNonQueryAsync() != 1 && await Run(updateWithStatus, values).ExecuteNonQueryAsync() != 1)
                {
                    outcomes[i] = SaveOutcome.VersionMoved;
                    continue;
                }

                await Run(append, id, write.EventKey, EventKeys.TypeName(write.Event), JsonSerializer.Serialize(write.Event, JsonBody.Options), at)
                    .ExecuteNonQueryAsync();
                await EnqueueAsync(write.Effects.Select(effect => ((Guid?)write.State.Id, effect)).ToList(), now);

                outcomes[i] = SaveOutcome.Saved;
            }

            return outcomes;
        }


        /// <summary>The prepared command with these values, in the order its parameters were named.</summary>
        private static SqliteCommand Run(SqliteCommand command, params object?[] values)
        {
            for (var i = 0; i < values.Length; i++)
            {
                command.Parameters[i].Value = values[i] ?? DBNull.Value;
            }

            return command;
        }

        public Task DeferWakeAsync(Guid id, DateTimeOffset until) =>
            connection.ExecuteAsync("UPDATE enrolments SET next_wake_at = @until WHERE id = @id",
                new { id = id.ToString(), until = Ms(until) }, transaction);

        public async Task<bool> AppendEventAsync(Guid enrolmentId, string key, WorkflowEvent evt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
                VALUES (@enrolmentId, @key, @type, @payload, @now)
                ON CONFLICT (enrolment_id, event_key) DO NOTHING
                """,
                new
                {
                    enrolmentId = enrolmentId.ToString(), key, type = EventKeys.TypeName(evt),
                    payload = JsonSerializer.Serialize(evt, JsonBody.Options), now = Ms(now),
                }, transaction) == 1;

        public Task EnqueueEffectsAsync(Guid? enrolmentId, IEnumerable<Effect> effects, DateTimeOffset now) =>
            EnqueueAsync(effects.Select(effect => (enrolmentId, effect)).ToList(), now);

        /// <summary>The effects' outbox rows, in order, through one prepared insert; an effect whose dedupe key is there is skipped.</summary>
        private async Task EnqueueAsync(IReadOnlyList<(Guid? EnrolmentId, Effect Effect)> effects, DateTimeOffset now)
        {
            if (effects.Count == 0)
            {
                return;
            }

            using var insert = Prepared(
                """
                INSERT INTO outbox (dedupe_key, enrolment_id, kind, template, payload, status, attempts, next_attempt_at, created_at)
                VALUES ($dedupeKey, $enrolmentId, $kind, $template, $payload, 'pending', 0, $now, $now)
                ON CONFLICT (dedupe_key) DO NOTHING
                """, "$dedupeKey", "$enrolmentId", "$kind", "$template", "$payload", "$now");
            insert.Parameters[5].Value = Ms(now);
            // Who subscribes to an event type at a school is read once per batch.
            var subscribers = new Dictionary<(string Type, string SchoolUrn), IReadOnlyList<Guid>>();
            foreach (var (enrolmentId, effect) in effects)
            {
                if (effect is Published published)
                {
                    var audience = (published.Type, published.Data.SchoolUrn);
                    if (!subscribers.TryGetValue(audience, out var subscriptions))
                    {
                        subscribers[audience] = subscriptions = await SubscribersAsync(published);
                    }

                    // One row per subscription that wants the event, decided here, in the transaction of the
                    // change that caused it: each subscriber's delivery is then retried, or dies, on its own.
                    foreach (var subscription in subscriptions)
                    {
                        var (dedupeKey, payload) = OutboxRows.Webhook(published, subscription);
                        Insert(dedupeKey, enrolmentId, "webhook", published.Type, payload);
                    }

                    continue;
                }

                var (kind, template, body) = OutboxRows.Of(effect);
                Insert(effect.DedupeKey, enrolmentId, kind, template, body);
            }

            void Insert(string dedupeKey, Guid? enrolmentId, string kind, string template, string payload)
            {
                insert.Parameters[0].Value = dedupeKey;
                insert.Parameters[1].Value = Db(enrolmentId?.ToString());
                insert.Parameters[2].Value = kind;
                insert.Parameters[3].Value = template;
                insert.Parameters[4].Value = payload;
                insert.ExecuteNonQuery();
            }
        }

        private async Task<IReadOnlyList<Guid>> SubscribersAsync(Published published) =>
            (await connection.QueryAsync<string>(
                """
                SELECT s.id FROM webhook_subscriptions s JOIN api_clients c ON c.id = s.client_id
                WHERE s.disabled_at IS NULL AND c.revoked_at IS NULL
                  AND EXISTS (SELECT 1 FROM json_each(s.events) WHERE value = @type)
                  AND ((' ' || c.scopes || ' ') LIKE '% admin %' OR instr(' ' || c.scopes || ' ', ' school:' || @schoolUrn || ' ') > 0)
                ORDER BY s.id
                """,
                new { type = published.Type, schoolUrn = published.Data.SchoolUrn }, transaction)).Select(Guid.Parse).ToList();

        public Task<int> LatestCertificateVersionAsync(Guid enrolmentId) =>
            connection.ExecuteScalarAsync<int>("SELECT COALESCE(MAX(version), 0) FROM certificates WHERE enrolment_id = @enrolmentId",
                new { enrolmentId = enrolmentId.ToString() }, transaction);

        public async Task InsertCertificateAsync(StoredCertificate c)
        {
            await connection.ExecuteAsync(
                "UPDATE certificates SET status = 'superseded' WHERE enrolment_id = @enrolmentId AND status = 'valid'",
                new { enrolmentId = c.EnrolmentId.ToString() }, transaction);
            await connection.ExecuteAsync(
                """
                INSERT INTO certificates (number, enrolment_id, version, school_urn, status, details, sha256, pdf, issued_at)
                VALUES (@Number, @enrolmentId, @Version, @SchoolUrn, @Status, @Details, @Sha256, @Pdf, @issuedAt)
                """,
                new { c.Number, enrolmentId = c.EnrolmentId.ToString(), c.Version, c.SchoolUrn, c.Status, c.Details, c.Sha256, c.Pdf, issuedAt = Ms(c.IssuedAt) },
                transaction);
        }

        public async Task<bool> RevokeCertificateAsync(string number, string reason, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                UPDATE certificates SET status = 'revoked', revoked_at = @now, revoked_reason = @reason
                WHERE number = @number AND status = 'valid'
                """,
                new { number, reason, now = Ms(now) }, transaction) == 1;

        public Task InsertClientAsync(ApiClient client, string keyHash) =>
            connection.ExecuteAsync(
                "INSERT INTO api_clients (id, name, key_hash, scopes, created_at) VALUES (@id, @name, @keyHash, @scopes, @createdAt) ON CONFLICT (key_hash) DO NOTHING",
                new { id = client.Id.ToString(), name = client.Name, keyHash, scopes = string.Join(' ', client.Scopes), createdAt = Ms(client.CreatedAt) },
                transaction);

        public async Task<bool> RevokeClientAsync(Guid id, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                "UPDATE api_clients SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
                new { id = id.ToString(), now = Ms(now) }, transaction) == 1;

        public async Task<int> InsertProgrammeVersionAsync(string id, string document, DateTimeOffset now)
        {
            var latest = (await connection.QueryAsync<(int Version, string Definition)>(
                "SELECT version, definition FROM programmes WHERE id = @id ORDER BY version DESC LIMIT 1", new { id }, transaction)).ToList();
            if (latest is [var same] && same.Definition == document)
            {
                return same.Version;
            }

            var version = latest is [var previous] ? previous.Version + 1 : 1;
            await connection.ExecuteAsync(
                "INSERT INTO programmes (id, version, definition, created_at) VALUES (@id, @version, @document, @now)",
                new { id, version, document, now = Ms(now) }, transaction);
            return version;
        }

        public Task<LiveSession?> GetSessionAsync(string id) => Sql.GetSessionAsync(connection, transaction, id);

        public Task UpsertSessionAsync(LiveSession s, DateTimeOffset now) =>
            connection.ExecuteAsync(
                """
                INSERT INTO live_sessions (id, programme_id, title, starts_at, ends_at, location, capacity, created_at, updated_at)
                VALUES (@Id, @ProgrammeId, @Title, @startsAt, @endsAt, @Location, @Capacity, @now, @now)
                ON CONFLICT (id) DO UPDATE SET programme_id = excluded.programme_id, title = excluded.title,
                    starts_at = excluded.starts_at, ends_at = excluded.ends_at, location = excluded.location,
                    capacity = excluded.capacity, updated_at = excluded.updated_at
                """,
                new { s.Id, s.ProgrammeId, s.Title, startsAt = Ms(s.StartsAt), endsAt = Ms(s.EndsAt), s.Location, s.Capacity, now = Ms(now) },
                transaction);

        public Task<int> CountActiveBookingsAsync(string sessionId) => Sql.CountActiveBookingsAsync(connection, transaction, sessionId);

        public async Task<IReadOnlyList<Guid>> ListBookedEnrolmentsAsync(string sessionId) =>
            (await connection.QueryAsync<string>(
                "SELECT enrolment_id FROM session_bookings WHERE session_id = @sessionId AND status = 'booked' ORDER BY enrolment_id",
                new { sessionId }, transaction)).Select(Guid.Parse).ToList();

        public Task<string?> GetBookingStatusAsync(string sessionId, Guid enrolmentId) =>
            connection.QuerySingleOrDefaultAsync<string?>(
                "SELECT status FROM session_bookings WHERE session_id = @sessionId AND enrolment_id = @enrolmentId",
                new { sessionId, enrolmentId = enrolmentId.ToString() }, transaction);

        public Task SetBookingAsync(string sessionId, Guid enrolmentId, string status, DateTimeOffset now) =>
            connection.ExecuteAsync(
                """
                INSERT INTO session_bookings (session_id, enrolment_id, status, updated_at) VALUES (@sessionId, @enrolmentId, @status, @now)
                ON CONFLICT (session_id, enrolment_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
                """,
                new { sessionId, enrolmentId = enrolmentId.ToString(), status, now = Ms(now) }, transaction);

        public async Task<bool> RecordDeliveryAsync(EmailDelivery d) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO email_deliveries (event_id, enrolment_id, template, event, occurred_at, detail)
                VALUES (@EventId, @enrolmentId, @Template, @Event, @occurredAt, @Detail)
                ON CONFLICT (event_id) DO NOTHING
                """,
                new { d.EventId, enrolmentId = d.EnrolmentId?.ToString(), d.Template, d.Event, occurredAt = Ms(d.OccurredAt), d.Detail }, transaction) == 1;

        public Task SuppressAsync(string email, string reason, string? detail, DateTimeOffset now) =>
            connection.ExecuteAsync(
                "INSERT INTO suppressions (email, reason, detail, created_at) VALUES (@email, @reason, @detail, @now) ON CONFLICT (email) DO NOTHING",
                new { email = email.ToLowerInvariant(), reason, detail, now = Ms(now) }, transaction);

        public async Task<IReadOnlyList<OutboxItem>> ClaimDueOutboxAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil)
        {
            var rows = (await connection.QueryAsync<OutboxRow>(
                $"""
                 UPDATE outbox SET lease_until = @leaseUntil
                 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= @now
                              AND (lease_until IS NULL OR lease_until <= @now) ORDER BY next_attempt_at LIMIT @limit)
                 RETURNING {Sql.OutboxColumns}
                 """,
                new { now = Ms(now), limit, leaseUntil = Ms(leaseUntil) }, transaction)).ToList();
            return rows.OrderBy(r => r.Id).Select(r => r.ToItem()).ToList();
        }

        public Task MarkSentAsync(IReadOnlyCollection<long> ids, DateTimeOffset now) =>
            ids.Count == 0
                ? Task.CompletedTask
                : connection.ExecuteAsync(
                    "UPDATE outbox SET status = 'sent', sent_at = @now, attempts = attempts + 1, lease_until = NULL, last_error = NULL WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'pending'",
                    new { ids = JsonSerializer.Serialize(ids), now = Ms(now) }, transaction);

        public Task MarkFailedAsync(long id, int attempts, DateTimeOffset? retryAt, string error) =>
            connection.ExecuteAsync(
                """
                UPDATE outbox SET attempts = @attempts, lease_until = NULL, last_error = @error,
                    status = CASE WHEN @retryAt IS NULL THEN 'dead' ELSE 'pending' END,
                    next_attempt_at = COALESCE(@retryAt, next_attempt_at)
                WHERE id = @id AND status = 'pending'
                """,
                new { id, attempts, retryAt = Ms(retryAt), error }, transaction);

        public Task MarkCancelledAsync(long id, string reason) =>
            connection.ExecuteAsync(
                "UPDATE outbox SET status = 'cancelled', lease_until = NULL, last_error = @reason, sent_at = NULL WHERE id = @id AND status = 'pending'",
                new { id, reason }, transaction);

        public Task PostponeAsync(long id, DateTimeOffset notBefore) =>
            connection.ExecuteAsync("UPDATE outbox SET next_attempt_at = @notBefore, lease_until = NULL WHERE id = @id AND status = 'pending'",
                new { id, notBefore = Ms(notBefore) }, transaction);

        public async Task<bool> RequeueAsync(long id, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = @now, lease_until = NULL WHERE id = @id AND status = 'dead'",
                new { id, now = Ms(now) }, transaction) == 1;

        public async Task<bool> ReserveResponseAsync(Guid clientId, string key, string requestHash, DateTimeOffset now, DateTimeOffset staleBefore) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO idempotent_requests (client_id, key, request_hash, created_at) VALUES (@clientId, @key, @requestHash, @now)
                ON CONFLICT (client_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at
                WHERE idempotent_requests.status_code IS NULL AND idempotent_requests.created_at < @staleBefore
                """,
                new { clientId = clientId.ToString(), key, requestHash, now = Ms(now), staleBefore = Ms(staleBefore) }, transaction) == 1;

        public Task SaveResponseAsync(Guid clientId, string key, int statusCode, string? contentType, byte[] body) =>
            connection.ExecuteAsync(
                "UPDATE idempotent_requests SET status_code = @statusCode, content_type = @contentType, body = @body WHERE client_id = @clientId AND key = @key",
                new { clientId = clientId.ToString(), key, statusCode, contentType, body }, transaction);

        public Task ReleaseResponseAsync(Guid clientId, string key) =>
            connection.ExecuteAsync("DELETE FROM idempotent_requests WHERE client_id = @clientId AND key = @key AND status_code IS NULL",
                new { clientId = clientId.ToString(), key }, transaction);

        public Task<int> ForgetResponsesBeforeAsync(DateTimeOffset cutoff) =>
            connection.ExecuteAsync("DELETE FROM idempotent_requests WHERE created_at < @cutoff", new { cutoff = Ms(cutoff) }, transaction);

        public Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(string schoolUrn) => Sql.SchoolContactsAsync(connection, transaction, schoolUrn);

        public async Task<SchoolContact?> FindSchoolContactByEmailAsync(string schoolUrn, string email) =>
            (await connection.QuerySingleOrDefaultAsync<SchoolContactRow>(
                $"SELECT {Sql.SchoolContactColumns} FROM school_contacts WHERE school_urn = @schoolUrn AND lower(email) = lower(@email)",
                new { schoolUrn, email }, transaction))?.ToContact();

        public Task InsertSchoolContactAsync(SchoolContact contact) =>
            connection.ExecuteAsync(
                "INSERT INTO school_contacts (id, school_urn, name, email, created_at) VALUES (@id, @SchoolUrn, @Name, @Email, @createdAt)",
                new { id = contact.Id.ToString(), contact.SchoolUrn, contact.Name, contact.Email, createdAt = Ms(contact.CreatedAt) }, transaction);

        public async Task<bool> DeleteSchoolContactAsync(string schoolUrn, Guid id) =>
            await connection.ExecuteAsync("DELETE FROM school_contacts WHERE school_urn = @schoolUrn AND id = @id",
                new { schoolUrn, id = id.ToString() }, transaction) == 1;

        public async Task<bool> InsertSchoolDigestAsync(SchoolDigestRecord d) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO school_digests (school_urn, week_start, people_listed, people_behind, emails, created_at)
                VALUES (@SchoolUrn, @weekStart, @PeopleListed, @PeopleBehind, @Emails, @createdAt)
                ON CONFLICT (school_urn, week_start) DO NOTHING
                """,
                new { d.SchoolUrn, weekStart = Day(d.WeekStart), d.PeopleListed, d.PeopleBehind, d.Emails, createdAt = Ms(d.CreatedAt) }, transaction) == 1;

        public async Task<IReadOnlyList<Guid>> FindEnrolmentIdsAsync(string schoolUrn, string externalId) =>
            (await connection.QueryAsync<string>(
                "SELECT id FROM enrolments WHERE school_urn = @schoolUrn AND external_id = @externalId ORDER BY programme_id",
                new { schoolUrn, externalId }, transaction)).Select(Guid.Parse).ToList();

        public async Task<IReadOnlyList<StoredXapiStatement>> FindXapiStatementsAsync(IReadOnlyCollection<Guid> ids) =>
            ids.Count == 0
                ? []
                : (await connection.QueryAsync<XapiStatementRow>(
                    "SELECT id, content_hash AS ContentHash, occurred_at AS OccurredAt FROM xapi_statements WHERE id IN (SELECT value FROM json_each(@ids))",
                    new { ids = JsonSerializer.Serialize(ids.Select(XapiId).Distinct()) }, transaction))
                .Select(r => new StoredXapiStatement(Guid.Parse(r.Id), r.ContentHash, At(r.OccurredAt))).ToList();

        public async Task<bool> InsertXapiStatementAsync(XapiStatementRecord s) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO xapi_statements (id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
                VALUES (@id, @enrolmentId, @Verb, @ContentHash, @occurredAt, @Statement, @clientId, @storedAt)
                ON CONFLICT (id) DO NOTHING
                """,
                new
                {
                    id = XapiId(s.Id), enrolmentId = s.EnrolmentId?.ToString(), s.Verb, s.ContentHash, occurredAt = Ms(s.OccurredAt),
                    s.Statement, clientId = s.ClientId.ToString(), storedAt = Ms(s.StoredAt),
                }, transaction) == 1;

        public Task InsertXapiStatementsAsync(IReadOnlyList<XapiStatementRecord> statements)
        {
            using var insert = Prepared(
                """
                INSERT INTO xapi_statements (id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
                VALUES ($id, $enrolmentId, $verb, $contentHash, $occurredAt, $statement, $clientId, $storedAt)
                ON CONFLICT (id) DO NOTHING
                """, "$id", "$enrolmentId", "$verb", "$contentHash", "$occurredAt", "$statement", "$clientId", "$storedAt");
            foreach (var s in statements)
            {
                insert.Parameters[0].Value = XapiId(s.Id);
                insert.Parameters[1].Value = Db(s.EnrolmentId?.ToString());
                insert.Parameters[2].Value = s.Verb;
                insert.Parameters[3].Value = s.ContentHash;
                insert.Parameters[4].Value = Db(Ms(s.OccurredAt));
                insert.Parameters[5].Value = s.Statement;
                insert.Parameters[6].Value = s.ClientId.ToString();
                insert.Parameters[7].Value = Ms(s.StoredAt);
                insert.ExecuteNonQuery();
            }

            return Task.CompletedTask;
        }

        public Task<int> CountWebhookSubscriptionsAsync(Guid clientId) =>
            connection.ExecuteScalarAsync<int>("SELECT COUNT(*) FROM webhook_subscriptions WHERE client_id = @clientId",
                new { clientId = clientId.ToString() }, transaction);

        public Task InsertWebhookSubscriptionAsync(WebhookSubscription w) =>
            connection.ExecuteAsync(
                """
                INSERT INTO webhook_subscriptions (id, client_id, url, events, secret, created_at)
                VALUES (@id, @clientId, @Url, @events, @Secret, @createdAt)
                """,
                new
                {
                    id = w.Id.ToString(), clientId = w.ClientId.ToString(), w.Url, events = JsonSerializer.Serialize(w.Events), w.Secret,
                    createdAt = Ms(w.CreatedAt),
                }, transaction);

        public async Task<bool> DeleteWebhookSubscriptionAsync(Guid clientId, Guid id)
        {
            var deleted = await connection.ExecuteAsync("DELETE FROM webhook_subscriptions WHERE id = @id AND client_id = @clientId",
                new { id = id.ToString(), clientId = clientId.ToString() }, transaction) == 1;
            if (deleted)
            {
                // Its pending deliveries are cancelled when the dispatcher finds it gone.
                await connection.ExecuteAsync("DELETE FROM webhook_deliveries WHERE subscription_id = @id", new { id = id.ToString() }, transaction);
            }

            return deleted;
        }

        public Task DisableWebhookSubscriptionAsync(Guid id, string reason, DateTimeOffset now) =>
            connection.ExecuteAsync(
                "UPDATE webhook_subscriptions SET disabled_at = @now, disabled_reason = @reason WHERE id = @id AND disabled_at IS NULL",
                new { id = id.ToString(), reason, now = Ms(now) }, transaction);

        public Task RecordWebhookAttemptAsync(WebhookAttempt a) =>
            connection.ExecuteAsync(
                """
                INSERT INTO webhook_deliveries (subscription_id, outbox_id, event_type, webhook_id, attempt, attempted_at, status_code, error, outcome, next_attempt_at)
                VALUES (@subscriptionId, @OutboxId, @EventType, @WebhookId, @Attempt, @attemptedAt, @StatusCode, @Error, @Outcome, @nextAttemptAt)
                """,
                new
                {
                    subscriptionId = a.SubscriptionId.ToString(), a.OutboxId, a.EventType, a.WebhookId, a.Attempt, attemptedAt = Ms(a.AttemptedAt),
                    a.StatusCode, a.Error, a.Outcome, nextAttemptAt = Ms(a.NextAttemptAt),
                }, transaction);

        public Task SetLocalAuthorityAsync(string schoolUrn, string? localAuthority, DateTimeOffset now) =>
            localAuthority is null
                ? connection.ExecuteAsync("DELETE FROM school_details WHERE school_urn = @schoolUrn", new { schoolUrn }, transaction)
                : connection.ExecuteAsync(
                    """
                    INSERT INTO school_details (school_urn, local_authority, updated_at) VALUES (@schoolUrn, @localAuthority, @now)
                    ON CONFLICT (school_urn) DO UPDATE SET local_authority = excluded.local_authority, updated_at = excluded.updated_at
                    """,
                    new { schoolUrn, localAuthority, now = Ms(now) }, transaction);

        public async Task CommitAsync()
        {
            _ended = true;
            try
            {
                await connection.ExecuteAsync("RELEASE unit", transaction: transaction);
            }
            catch (Exception e)
            {
                await store.AbortGroupAsync(e);
                throw;
            }

            var committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await store.EndUnitAsync(committed);
            await committed.Task;
        }

        public async ValueTask DisposeAsync()
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            try
            {
                await connection.ExecuteAsync("ROLLBACK TO unit; RELEASE unit;", transaction: transaction);
            }
            catch (Exception e)
            {
                // If this unit cannot be undone on its own, nothing in its group may be committed.
                // The caller meant to keep nothing, and keeps nothing; its own exception, if any, stands.
                await store.AbortGroupAsync(e);
                return;
            }

            await store.EndUnitAsync(null);
        }
    }

    private static string StatusName(EnrolmentStatus status) => JsonNamingPolicy.SnakeCaseLower.ConvertName(status.ToString());

    /// <summary>Statement ids are kept in the UUID's standard lower-case form, however they were sent.</summary>
    private static string XapiId(Guid id) => id.ToString("D");

    // Row shapes are classes with setters: Dapper fills them by column name whatever type SQLite reports for a NULL.
    private sealed class XapiStatementRow
    {
        public string Id { get; set; } = "";
        public string ContentHash { get; set; } = "";
        public long? OccurredAt { get; set; }
    }

    private sealed class EnrolmentRow
    {
        public string State { get; set; } = "";
        public long Version { get; set; }
        public long? NextWakeAt { get; set; }

        public StoredEnrolment ToEnrolment() =>
            new(JsonSerializer.Deserialize<EnrolmentState>(State, JsonBody.Options)!, Version, At(NextWakeAt));
    }

    private sealed class ProgrammeRow
    {
        public string Id { get; set; } = "";
        public long Version { get; set; }
        public string Definition { get; set; } = "";
        public long CreatedAt { get; set; }
    }

    private sealed class ClientRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Scopes { get; set; } = "";
        public long CreatedAt { get; set; }
        public long? RevokedAt { get; set; }

        public ApiClient ToClient() => new(Guid.Parse(Id), Name, Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), At(CreatedAt), At(RevokedAt));
    }

    private sealed class SessionRow
    {
        public string Id { get; set; } = "";
        public string ProgrammeId { get; set; } = "";
        public string Title { get; set; } = "";
        public long StartsAt { get; set; }
        public long EndsAt { get; set; }
        public string Location { get; set; } = "";
        public long Capacity { get; set; }

        public LiveSession ToSession() => new(Id, ProgrammeId, Title, At(StartsAt), At(EndsAt), Location, (int)Capacity);
    }

    private sealed class ResponseRow
    {
        public string RequestHash { get; set; } = "";
        public long? StatusCode { get; set; }
        public string? ContentType { get; set; }
        public byte[]? Body { get; set; }
    }

    private sealed class DeliveryRow
    {
        public string EventId { get; set; } = "";
        public string? EnrolmentId { get; set; }
        public string? Template { get; set; }
        public string Event { get; set; } = "";
        public long OccurredAt { get; set; }
        public string? Detail { get; set; }
    }

    private sealed class CertificateRow
    {
        public string Number { get; set; } = "";
        public string EnrolmentId { get; set; } = "";
        public long Version { get; set; }
        public string SchoolUrn { get; set; } = "";
        public string Status { get; set; } = "";
        public string Details { get; set; } = "";
        public string Sha256 { get; set; } = "";
        public byte[]? Pdf { get; set; }
        public long IssuedAt { get; set; }
        public long? RevokedAt { get; set; }
        public string? RevokedReason { get; set; }

        public StoredCertificate ToCertificate() => new(Number, Guid.Parse(EnrolmentId), (int)Version, SchoolUrn, Status, Details, Sha256, Pdf,
            At(IssuedAt), At(RevokedAt), RevokedReason);
    }

    private sealed class ReportRow
    {
        public string State { get; set; } = "";
        public string? CertificateNumber { get; set; }
        public string? CertificateStatus { get; set; }
    }

    private sealed class SchoolContactRow
    {
        public string Id { get; set; } = "";
        public string SchoolUrn { get; set; } = "";
        public string Name { get; set; } = "";
        public string Email { get; set; } = "";
        public long CreatedAt { get; set; }

        public SchoolContact ToContact() => new(Guid.Parse(Id), SchoolUrn, Name, Email, At(CreatedAt));
    }

    private sealed class WebhookSubscriptionRow
    {
        public string Id { get; set; } = "";
        public string ClientId { get; set; } = "";
        public string Url { get; set; } = "";
        public string Events { get; set; } = "[]";
        public string Secret { get; set; } = "";
        public long CreatedAt { get; set; }
        public long? DisabledAt { get; set; }
        public string? DisabledReason { get; set; }

        public WebhookSubscription ToSubscription() => new(Guid.Parse(Id), Guid.Parse(ClientId), Url,
            JsonSerializer.Deserialize<List<string>>(Events) ?? [], Secret, At(CreatedAt), At(DisabledAt), DisabledReason);
    }

    private sealed class WebhookAttemptRow
    {
        public string SubscriptionId { get; set; } = "";
        public long OutboxId { get; set; }
        public string EventType { get; set; } = "";
        public string WebhookId { get; set; } = "";
        public long Attempt { get; set; }
        public long AttemptedAt { get; set; }
        public long? StatusCode { get; set; }
        public string? Error { get; set; }
        public string Outcome { get; set; } = "";
        public long? NextAttemptAt { get; set; }

        public WebhookAttempt ToAttempt() => new(Guid.Parse(SubscriptionId), OutboxId, EventType, WebhookId, (int)Attempt, At(AttemptedAt),
            (int?)StatusCode, Error, Outcome, At(NextAttemptAt));
    }

    private sealed class OutboxRow
    {
        public long Id { get; set; }
        public string DedupeKey { get; set; } = "";
        public string? EnrolmentId { get; set; }
        public string Kind { get; set; } = "";
        public string Template { get; set; } = "";
        public string Payload { get; set; } = "";
        public string Status { get; set; } = "";
        public long Attempts { get; set; }
        public long NextAttemptAt { get; set; }
        public string? LastError { get; set; }
        public long CreatedAt { get; set; }
        public long? SentAt { get; set; }

        public OutboxItem ToItem() => new(Id, DedupeKey, EnrolmentId is null ? null : Guid.Parse(EnrolmentId), Kind, Template, Payload,
            Status, (int)Attempts, At(NextAttemptAt), LastError, At(CreatedAt), At(SentAt));
    }
}
