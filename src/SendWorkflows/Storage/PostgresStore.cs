using System.Text.Json;
using Dapper;
using Npgsql;
using SendWorkflows.Http;
using SendWorkflows.Workflow;

namespace SendWorkflows.Storage;

/// <summary>
/// The store for production and scale-out: PostgreSQL through Npgsql, shared by any number of app
/// instances. The schema is the SQLite one (times in Unix milliseconds, the state as <c>jsonb</c>).
/// </summary>
/// <remarks>
/// <para>Each <see cref="BeginAsync"/> unit is one READ COMMITTED transaction on a pooled
/// connection. Instances coordinate only through the database:</para>
/// <list type="bullet">
/// <item>due timers and due outbox rows are claimed with <c>FOR UPDATE SKIP LOCKED</c> and a lease
/// column, so two instances never take the same row and a crashed instance's claims expire;</item>
/// <item>a decision is saved only if the enrolment's version is still the one it was made on
/// (optimistic concurrency), and every event and effect has a unique key, so a repeat writes nothing;</item>
/// <item>a transaction that reads an enrolment locks its row, and writes that read before they insert
/// (a programme's next version, a session's bookings, an enrolment's next certificate, a school contact
/// by address, an xAPI statement id, a client's webhook count) lock what they read first;</item>
/// <item>migrations run under an advisory lock, so instances starting together apply each once.</item>
/// </list>
/// <para>Progress events that arrive together share their round trips (<see cref="Coalescer{TIn, TOut}"/>):
/// one query reads their enrolments, and one batch in one transaction saves their decisions.</para>
/// </remarks>
public sealed class PostgresStore : IWorkflowStore, IAsyncDisposable
{
    /// <summary>Taken by <see cref="MigrateAsync"/>: any fixed number shared by every instance ("SendWf" in ASCII).</summary>
    private const long MigrationLock = 0x53656e645766;

    private readonly NpgsqlDataSource _dataSource;
    private readonly Coalescer<DecisionStatement, (bool Duplicate, bool Saved)> _saves;
    private readonly Coalescer<Guid, StoredEnrolment?> _reads;

    public PostgresStore(string connectionString)
    {
        var builder = Settings(connectionString);
        if (string.IsNullOrEmpty(builder.Host))
        {
            throw new InvalidOperationException("Storage:ConnectionString names no PostgreSQL host (Host=…).");
        }

        _dataSource = NpgsqlDataSource.Create(builder);
        // A save batch the server refused was rolled back whole; after any other failure it may have
        // committed, so its decisions are not sent again. A read can always be tried again.
        _saves = new Coalescer<DecisionStatement, (bool, bool)>(SaveDecisionsAsync, e => e is PostgresException);
        _reads = new Coalescer<Guid, StoredEnrolment?>(ReadEnrolmentsAsync, _ => true);
    }

    /// <summary>
    /// The connection string with the store's defaults for what it leaves unsaid:
    /// <list type="bullet">
    /// <item>Statements the app runs thousands of times are prepared once per connection
    /// (<c>Max Auto Prepare=64</c>; say <c>Max Auto Prepare=0</c> behind a pooler that cannot keep them).</item>
    /// <item>Read and write buffers of 64 KB rather than Npgsql's 8 KB (<c>Read Buffer Size</c>,
    /// <c>Write Buffer Size</c>): a batch sends and reads a thousand enrolment states of a kilobyte or
    /// two, and with small buffers the driver makes a flush, and a wait on the socket, every few rows.
    /// This costs 128 KB a connection.</item>
    /// </list>
    /// A setting the connection string gives, in any of its spellings, is kept.
    /// </summary>
    internal static NpgsqlConnectionStringBuilder Settings(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Select(k => k.Replace(" ", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (!given.Contains("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        if (!given.Contains("ReadBufferSize"))
        {
            builder.ReadBufferSize = BufferSize;
        }

        if (!given.Contains("WriteBufferSize"))
        {
            builder.WriteBufferSize = BufferSize;
        }

        return builder;
    }

    internal const int BufferSize = 64 * 1024;

    public async Task MigrateAsync(CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Held until commit: a second instance starting now waits here, then finds everything applied.
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@lockId)", new { lockId = MigrationLock }, tx);
        await connection.ExecuteAsync(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
            transaction: tx);
        var applied = (await connection.QueryAsync<long>("SELECT version FROM schema_migrations", transaction: tx)).ToHashSet();
        foreach (var (version, name, sql) in MigrationScripts.For("postgres"))
        {
            if (applied.Contains(version))
            {
                continue;
            }

            await connection.ExecuteAsync(sql, transaction: tx);
            await connection.ExecuteAsync(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @now)",
                new { version, name, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, tx);
        }

        await tx.CommitAsync(ct);
    }

    public async Task<IStoreTransaction> BeginAsync(CancellationToken ct)
    {
        var connection = await _dataSource.OpenConnectionAsync(ct);
        try
        {
            var transaction = await connection.BeginTransactionAsync(ct);
            return new WriteTransaction(connection, transaction);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private async Task<T> ReadAsync<T>(Func<NpgsqlConnection, Task<T>> query, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        return await query(connection);
    }

    /// <summary>Concurrent reads of enrolments share one query (every progress event starts with one).</summary>
    public Task<StoredEnrolment?> GetEnrolmentAsync(Guid id, CancellationToken ct) => _reads.RunAsync(id);

    private async Task<StoredEnrolment?[]> ReadEnrolmentsAsync(IReadOnlyList<Guid> ids)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        if (ids.Count == 1)
        {
            return [await Sql.GetEnrolmentAsync(connection, null, ids[0])];
        }

        var found = (await Sql.QueryEnrolmentsAsync(connection, null, "SELECT state, version, next_wake_at FROM enrolments WHERE id = ANY(@ids)",
                new NpgsqlParameter<Guid[]>("ids", ids.Distinct().ToArray())))
            .ToDictionary(e => e.State.Id);
        return ids.Select(id => found.GetValueOrDefault(id)).ToArray();
    }

    public Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct) =>
        ids.Count == 0
            ? Task.FromResult<IReadOnlyList<StoredEnrolment>>([])
            : ReadAsync<IReadOnlyList<StoredEnrolment>>(async c => await Sql.QueryEnrolmentsAsync(c, null,
                "SELECT state, version, next_wake_at FROM enrolments WHERE id = ANY(@ids)", new NpgsqlParameter<Guid[]>("ids", ids.Distinct().ToArray())), ct);

    public Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId, CancellationToken ct) =>
        ReadAsync(c => Sql.FindEnrolmentIdAsync(c, null, programmeId, schoolUrn, externalId), ct);

    public Task<IReadOnlyList<Guid>> DueEnrolmentsAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<Guid>>(async c => (await c.QueryAsync<Guid>(
            """
            UPDATE enrolments SET wake_lease_until = @leaseUntil
            WHERE id IN (SELECT id FROM enrolments
                         WHERE next_wake_at <= @now AND (wake_lease_until IS NULL OR wake_lease_until <= @now)
                         ORDER BY next_wake_at LIMIT @limit FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            new { now = Ms(now), limit, leaseUntil = Ms(leaseUntil) })).ToList(), ct);

    public Task<bool> HasDueWorkAsync(DateTimeOffset now, CancellationToken ct) =>
        ReadAsync(c => c.ExecuteScalarAsync<bool>(
            """
            SELECT EXISTS (SELECT 1 FROM enrolments WHERE next_wake_at <= @now AND (wake_lease_until IS NULL OR wake_lease_until <= @now))
                OR EXISTS (SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now))
            """, new { now = Ms(now) }), ct);

    /// <summary>
    /// One statement: the version check (which locks the row), the event, the state and the effects
    /// are sub-statements of one <c>WITH</c>, each written only if the one before it was, so it writes
    /// all of it or nothing. Concurrent decisions share a commit (<see cref="PostgresGroupCommit"/>), so
    /// a progress event costs its read and a share of one batched write.
    /// </summary>
    public async Task<SaveOutcome> SaveDecisionAsync(DecisionWrite write, DateTimeOffset now, CancellationToken ct)
    {
        var (duplicate, saved) = await _saves.RunAsync(await StatementAsync(write, now, ct));
        return Outcome(duplicate, saved);
    }

    /// <summary>
    /// The whole batch as one batch of statements: one round trip and one commit (the implicit
    /// transaction of a batch), so a refused batch saved nothing. Each statement saves its own
    /// decision or nothing, with the outcome it would have on its own.
    /// </summary>
    public async Task<IReadOnlyList<SaveOutcome>> SaveDecisionsAsync(IReadOnlyList<DecisionWrite> writes, DateTimeOffset now, CancellationToken ct)
    {
        if (writes.Count == 0)
        {
            return [];
        }

        var statements = new DecisionStatement[writes.Count];
        for (var i = 0; i < writes.Count; i++)
        {
            statements[i] = await StatementAsync(writes[i], now, ct);
        }

        return (await SaveDecisionsAsync(statements)).Select(r => Outcome(r.Duplicate, r.Saved)).ToList();
    }

    private static SaveOutcome Outcome(bool duplicate, bool saved) =>
        duplicate ? SaveOutcome.Duplicate : saved ? SaveOutcome.Saved : SaveOutcome.VersionMoved;

    /// <summary>The statement that saves one decision, with its outbox rows (a webhook event's subscribers are read first).</summary>
    private async Task<DecisionStatement> StatementAsync(DecisionWrite write, DateTimeOffset now, CancellationToken ct)
    {
        var state = write.State;
        var effects = write.Effects.Select(effect => ((Guid?)state.Id, effect)).ToList();
        List<OutboxInsert> rows;
        if (write.Effects.Any(e => e is Published))
        {
            // Who subscribes is read first; the rows then go in the same statement as the decision.
            await using var connection = await _dataSource.OpenConnectionAsync(ct);
            rows = await OutboxRowsAsync(connection, null, effects);
        }
        else
        {
            rows = await OutboxRowsAsync(null, null, effects);
        }

        static NpgsqlParameter P(object? value, NpgsqlTypes.NpgsqlDbType type) => new() { Value = value ?? DBNull.Value, NpgsqlDbType = type };
        const NpgsqlTypes.NpgsqlDbType TextArray = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text;
        return new DecisionStatement(state.Id,
        [
            P(state.Id, NpgsqlTypes.NpgsqlDbType.Uuid),
            P(write.ExpectedVersion, NpgsqlTypes.NpgsqlDbType.Bigint),
            P(write.EventKey, NpgsqlTypes.NpgsqlDbType.Text),
            P(EventKeys.TypeName(write.Event), NpgsqlTypes.NpgsqlDbType.Text),
            P(JsonSerializer.Serialize(write.Event, JsonBody.Options), NpgsqlTypes.NpgsqlDbType.Text),
            P(Ms(now), NpgsqlTypes.NpgsqlDbType.Bigint),
            P(StatusName(state.Status), NpgsqlTypes.NpgsqlDbType.Text),
            P(Jsonb(state), NpgsqlTypes.NpgsqlDbType.Jsonb),
            P(Ms(write.NextWakeAt), NpgsqlTypes.NpgsqlDbType.Bigint),
            P(rows.Select(r => r.DedupeKey).ToArray(), TextArray),
            P(rows.Select(r => r.EnrolmentId).ToArray(), NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Uuid),
            P(rows.Select(r => r.Kind).ToArray(), TextArray),
            P(rows.Select(r => r.Template).ToArray(), TextArray),
            P(rows.Select(r => r.Payload).ToArray(), TextArray),
        ]);
    }

    /// <summary>A decision's statement: its positional parameters ($1 …), in order, and its enrolment (to order a batch by).</summary>
    private sealed record DecisionStatement(Guid EnrolmentId, IReadOnlyList<NpgsqlParameter> Parameters);

    /// <summary>
    /// Decisions saved at the same moment go as one batch, in one implicit transaction: one round trip
    /// and one commit for all of them. Each statement writes its own decision or nothing, so batching
    /// changes no outcome. They are ordered by enrolment, so batches from different instances lock
    /// rows in the same order.
    /// </summary>
    private async Task<(bool Duplicate, bool Saved)[]> SaveDecisionsAsync(IReadOnlyList<DecisionStatement> statements)
    {
        var order = Enumerable.Range(0, statements.Count).OrderBy(i => statements[i].EnrolmentId).ToArray();
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection);
        foreach (var i in order)
        {
            var command = new NpgsqlBatchCommand(SaveDecisionSql);
            foreach (var parameter in statements[i].Parameters)
            {
                // A copy: the same decision may be sent again on its own if its batch fails.
                command.Parameters.Add(parameter.Clone());
            }

            batch.BatchCommands.Add(command);
        }

        var results = new (bool, bool)[statements.Count];
        try
        {
            await ReadResultsAsync();
        }
        catch (PostgresException)
        {
            // A connection that ran a failed batch once answered its next command out of step
            // ("unexpected DataRow", from its auto-prepared statements): the pool's connections are
            // closed (this one on its return) rather than handed to the next request. It must be the
            // data source's Clear: NpgsqlConnection.ClearPool only reaches pools made from connection
            // strings, not a data source's.
            _dataSource.Clear();
            throw;
        }

        // The reader has finished only once the server answered the batch's Sync, that is, after the commit.
        return results;

        async Task ReadResultsAsync()
        {
            await using (var reader = await batch.ExecuteReaderAsync())
            {
                foreach (var i in order)
                {
                    if (!await reader.ReadAsync())
                    {
                        throw new InvalidOperationException("A statement of the batch returned no row.");
                    }

                    results[i] = (reader.GetBoolean(0), reader.GetBoolean(1));
                    await reader.NextResultAsync();
                }
            }
        }
    }

    /// <summary>The statement behind <see cref="SaveDecisionAsync"/>, with positional parameters (it is sent in batches).</summary>
    private const string SaveDecisionSql =
        """
        WITH locked AS (SELECT id FROM enrolments WHERE id = $1 AND version = $2 FOR NO KEY UPDATE),
        repeated AS (SELECT 1 FROM enrolment_events WHERE enrolment_id = $1 AND event_key = $3),
        appended AS (
            INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
            SELECT $1, $3, $4, $5, $6
            WHERE EXISTS (SELECT 1 FROM locked) AND NOT EXISTS (SELECT 1 FROM repeated)
            ON CONFLICT (enrolment_id, event_key) DO NOTHING
            RETURNING 1),
        saved AS (
            UPDATE enrolments SET status = $7, state = $8::jsonb, version = version + 1, next_wake_at = $9,
                wake_lease_until = NULL, updated_at = $6
            WHERE id = $1 AND EXISTS (SELECT 1 FROM appended)
            RETURNING 1),
        queued AS (
            INSERT INTO outbox (dedupe_key, enrolment_id, kind, template, payload, status, attempts, next_attempt_at, created_at)
            SELECT u.dedupe_key, u.enrolment_id, u.kind, u.template, u.payload, 'pending', 0, $6, $6
            FROM unnest($10::text[], $11::uuid[], $12::text[], $13::text[], $14::text[]) AS u(dedupe_key, enrolment_id, kind, template, payload)
            WHERE EXISTS (SELECT 1 FROM saved)
            ON CONFLICT (dedupe_key) DO NOTHING)
        SELECT EXISTS (SELECT 1 FROM repeated), EXISTS (SELECT 1 FROM saved)
        """;

    /// <summary>The outbox rows for these effects: one each, except a webhook event, which becomes one per subscriber that wants it.</summary>
    /// <param name="connection">Needed only when one of the effects is a webhook event.</param>
    private static async Task<List<OutboxInsert>> OutboxRowsAsync(
        NpgsqlConnection? connection, NpgsqlTransaction? transaction, IReadOnlyList<(Guid? EnrolmentId, Effect Effect)> effects)
    {
        var rows = new List<OutboxInsert>(effects.Count);
        // Who subscribes to an event type at a school is read once per call, however many such events there are.
        var subscribers = new Dictionary<(string Type, string SchoolUrn), IReadOnlyList<Guid>>();
        foreach (var (enrolmentId, effect) in effects)
        {
            if (effect is Published published)
            {
                var audience = (published.Type, published.Data.SchoolUrn);
                if (!subscribers.TryGetValue(audience, out var subscriptions))
                {
                    subscribers[audience] = subscriptions =
                        await SubscribersAsync(connection ?? throw new ArgumentNullException(nameof(connection)), transaction, published);
                }

                rows.AddRange(subscriptions.Select(id => OutboxRows.Webhook(published, id))
                    .Select(w => new OutboxInsert(w.DedupeKey, enrolmentId, "webhook", published.Type, w.Payload)));
                continue;
            }

            var (kind, template, payload) = OutboxRows.Of(effect);
            rows.Add(new OutboxInsert(effect.DedupeKey, enrolmentId, kind, template, payload));
        }

        return rows;
    }

    /// <summary>
    /// The subscriptions that want the event: each gets its own row, decided in the transaction of the
    /// change that caused it, so each subscriber's delivery is then retried, or dies, on its own.
    /// </summary>
    private static async Task<IReadOnlyList<Guid>> SubscribersAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Published published) =>
        (await connection.QueryAsync<Guid>(
            """
            SELECT s.id FROM webhook_subscriptions s JOIN api_clients c ON c.id = s.client_id
            WHERE s.disabled_at IS NULL AND c.revoked_at IS NULL
              AND s.events @> jsonb_build_array(@type::text)
              AND ((' ' || c.scopes || ' ') LIKE '% admin %' OR strpos(' ' || c.scopes || ' ', ' school:' || @schoolUrn || ' ') > 0)
            ORDER BY s.id
            """,
            new { type = published.Type, schoolUrn = published.Data.SchoolUrn }, transaction)).ToList();

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
            new { id, version })).Select(r => new StoredProgramme(r.Id, r.Version, r.Definition, At(r.CreatedAt))).FirstOrDefault(), ct);

    public Task<LiveSession?> GetSessionAsync(string id, CancellationToken ct) =>
        ReadAsync(c => Sql.GetSessionAsync(c, null, id), ct);

    public Task<int> CountActiveBookingsAsync(string sessionId, CancellationToken ct) =>
        ReadAsync(c => Sql.CountActiveBookingsAsync(c, null, sessionId), ct);

    public Task<IReadOnlyList<OutboxItem>> ListOutboxAsync(string? status, Guid? enrolmentId, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<OutboxItem>>(async c => (await c.QueryAsync<OutboxRow>(
            $"""
             SELECT {Sql.OutboxColumns} FROM outbox
             WHERE (@status::text IS NULL OR status = @status) AND (@enrolmentId::uuid IS NULL OR enrolment_id = @enrolmentId)
             ORDER BY id LIMIT @limit
             """,
            new { status, enrolmentId, limit })).Select(r => r.ToItem()).ToList(), ct);

    public Task<StoredResponse?> FindResponseAsync(Guid clientId, string key, CancellationToken ct) =>
        ReadAsync(async c => (await c.QueryAsync<ResponseRow>(
            "SELECT request_hash AS RequestHash, status_code AS StatusCode, content_type AS ContentType, body FROM idempotent_requests WHERE client_id = @clientId AND key = @key",
            new { clientId, key })).Select(r => new StoredResponse(r.RequestHash, r.StatusCode, r.ContentType, r.Body)).FirstOrDefault(), ct);

    public Task<StoredCertificate?> GetCertificateAsync(string number, bool withPdf, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, "number = @number", new { number }, withPdf), ct);

    public Task<IReadOnlySet<string>> SuppressedAmongAsync(IReadOnlyCollection<string> emails, CancellationToken ct) =>
        emails.Count == 0
            ? Task.FromResult<IReadOnlySet<string>>(new HashSet<string>())
            : ReadAsync<IReadOnlySet<string>>(async c => (await c.QueryAsync<string>(
                "SELECT email FROM suppressions WHERE email = ANY(@emails)",
                new { emails = emails.Select(e => e.ToLowerInvariant()).Distinct().ToArray() })).ToHashSet(StringComparer.Ordinal), ct);

    public Task<IReadOnlyList<ReminderStanding>> ReminderStandingsAsync(IReadOnlyCollection<Guid> enrolmentIds, CancellationToken ct) =>
        enrolmentIds.Count == 0
            ? Task.FromResult<IReadOnlyList<ReminderStanding>>([])
            : ReadAsync<IReadOnlyList<ReminderStanding>>(async c => (await c.QueryAsync<(Guid Id, bool Completed, bool Withdrawn, bool Off, bool Bounced, bool Started)>(
                """
                SELECT id,
                       jsonb_typeof(state -> 'completedAt') IS NOT DISTINCT FROM 'string',
                       jsonb_typeof(state -> 'withdrawnAt') IS NOT DISTINCT FROM 'string',
                       COALESCE((state ->> 'remindersOff')::boolean, false),
                       jsonb_typeof(state -> 'emailBouncedAt') IS NOT DISTINCT FROM 'string',
                       status <> 'enrolled'
                FROM enrolments WHERE id = ANY(@ids)
                """, new { ids = enrolmentIds.Distinct().ToArray() }))
                .Select(r => new ReminderStanding(r.Id, r.Completed, r.Withdrawn, r.Off, r.Bounced, r.Started)).ToList(), ct);

    public Task<IReadOnlyList<EmailDelivery>> DeliveriesAsync(Guid enrolmentId, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<EmailDelivery>>(async c => (await c.QueryAsync<DeliveryRow>(
                "SELECT event_id AS EventId, enrolment_id AS EnrolmentId, template, event, occurred_at AS OccurredAt, detail FROM email_deliveries WHERE enrolment_id = @id ORDER BY occurred_at",
                new { id = enrolmentId }))
            .Select(r => new EmailDelivery(r.EventId, r.EnrolmentId, r.Template, r.Event, At(r.OccurredAt), r.Detail)).ToList(), ct);

    public Task<StoredCertificate?> FindCertificateBySha256Async(string sha256, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, "sha256 = @sha256", new { sha256 }, withPdf: false), ct);

    public Task<StoredCertificate?> CurrentCertificateAsync(Guid enrolmentId, CancellationToken ct) =>
        ReadAsync(c => Sql.QueryCertificateAsync(c, "enrolment_id = @enrolmentId ORDER BY version DESC LIMIT 1", new { enrolmentId }, withPdf: false), ct);

    public async IAsyncEnumerable<StoredCertificate> CurrentCertificatesForSchoolAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
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
            $"SELECT {Sql.SchoolContactColumns} FROM school_contacts WHERE id = @id", new { id }))?.ToContact(), ct);

    public Task<IReadOnlyList<string>> SchoolsAwaitingDigestAsync(DateOnly weekStart, string? afterUrn, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<string>>(async c => (await c.QueryAsync<string>(
            """
            SELECT DISTINCT school_urn FROM school_contacts c
            WHERE (@afterUrn::text IS NULL OR school_urn > @afterUrn)
              AND NOT EXISTS (SELECT 1 FROM school_digests d WHERE d.school_urn = c.school_urn AND d.week_start = @weekStart::date)
            ORDER BY school_urn LIMIT @limit
            """,
            new { weekStart = SqliteStore.Day(weekStart), afterUrn, limit })).ToList(), ct);

    public async IAsyncEnumerable<EnrolmentState> UnfinishedEnrolmentsAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        // Unbuffered: a large college's staff are read one at a time, never all held in memory.
        var rows = connection.QueryUnbufferedAsync<string>(
            "SELECT state FROM enrolments WHERE school_urn = @schoolUrn AND status NOT IN (@completed, @withdrawn)",
            new { schoolUrn, completed = StatusName(EnrolmentStatus.Completed), withdrawn = StatusName(EnrolmentStatus.Withdrawn) });
        await foreach (var state in rows.WithCancellation(ct))
        {
            yield return State(state);
        }
    }

    public Task<IReadOnlyList<WebhookSubscription>> WebhookSubscriptionsAsync(Guid clientId, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<WebhookSubscription>>(async c => (await c.QueryAsync<WebhookSubscriptionRow>(
            $"SELECT {Sql.WebhookSubscriptionColumns} FROM webhook_subscriptions WHERE client_id = @clientId ORDER BY created_at, seq",
            new { clientId })).Select(r => r.ToSubscription()).ToList(), ct);

    public Task<WebhookSubscription?> GetWebhookSubscriptionAsync(Guid clientId, Guid id, CancellationToken ct) =>
        ReadAsync(async c => (await c.QuerySingleOrDefaultAsync<WebhookSubscriptionRow>(
            $"SELECT {Sql.WebhookSubscriptionColumns} FROM webhook_subscriptions WHERE id = @id AND client_id = @clientId",
            new { id, clientId }))?.ToSubscription(), ct);

    public Task<IReadOnlyDictionary<Guid, WebhookTarget>> WebhookTargetsAsync(IReadOnlyCollection<Guid> subscriptionIds, CancellationToken ct) =>
        subscriptionIds.Count == 0
            ? Task.FromResult<IReadOnlyDictionary<Guid, WebhookTarget>>(new Dictionary<Guid, WebhookTarget>())
            : ReadAsync<IReadOnlyDictionary<Guid, WebhookTarget>>(async c => (await c.QueryAsync<(Guid Id, string Url, string Secret, long? DisabledAt, long? RevokedAt)>(
                """
                SELECT s.id, s.url, s.secret, s.disabled_at, c.revoked_at
                FROM webhook_subscriptions s JOIN api_clients c ON c.id = s.client_id
                WHERE s.id = ANY(@ids)
                """, new { ids = subscriptionIds.Distinct().ToArray() }))
                .ToDictionary(r => r.Id, r => new WebhookTarget(r.Id, r.Url, r.Secret,
                    r.DisabledAt is not null ? "the subscription is disabled."
                    : r.RevokedAt is not null ? "the API client that subscribed was revoked."
                    : null)), ct);

    public Task<IReadOnlyList<WebhookAttempt>> WebhookAttemptsAsync(Guid subscriptionId, int limit, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<WebhookAttempt>>(async c => (await c.QueryAsync<WebhookAttemptRow>(
            """
            SELECT subscription_id AS SubscriptionId, outbox_id AS OutboxId, event_type AS EventType, webhook_id AS WebhookId, attempt,
                   attempted_at AS AttemptedAt, status_code AS StatusCode, error, outcome, next_attempt_at AS NextAttemptAt
            FROM webhook_deliveries WHERE subscription_id = @id ORDER BY id DESC LIMIT @limit
            """, new { id = subscriptionId, limit })).Select(r => r.ToAttempt()).ToList(), ct);

    public async IAsyncEnumerable<ReportedEnrolment> SchoolReportAsync(
        string schoolUrn, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        // Unbuffered, like the digest. Names sort as the SQLite store sorts them (NOCASE: ASCII letters
        // folded, everything else by code point), so a report reads the same on either store.
        var rows = connection.QueryUnbufferedAsync<ReportRow>(
            """
            SELECT e.state, c.number AS CertificateNumber, c.status AS CertificateStatus
            FROM enrolments e
            LEFT JOIN certificates c ON c.enrolment_id = e.id
                AND c.version = (SELECT MAX(version) FROM certificates WHERE enrolment_id = e.id)
            WHERE e.school_urn = @schoolUrn
            ORDER BY lower((e.state -> 'staff' ->> 'familyName') COLLATE "C") COLLATE "C",
                     lower((e.state -> 'staff' ->> 'givenName') COLLATE "C") COLLATE "C",
                     e.external_id COLLATE "C", e.programme_id COLLATE "C"
            """,
            new { schoolUrn });
        await foreach (var row in rows.WithCancellation(ct))
        {
            yield return new ReportedEnrolment(State(row.State), row.CertificateNumber, row.CertificateStatus);
        }
    }

    public Task<string?> LocalAuthorityAsync(string schoolUrn, CancellationToken ct) =>
        ReadAsync(c => c.QuerySingleOrDefaultAsync<string?>(
            "SELECT local_authority FROM school_details WHERE school_urn = @schoolUrn", new { schoolUrn }), ct);

    public async Task<StoredProgressSummary> ProgressSummaryAsync(IReadOnlyCollection<string> reminderTemplates, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        // One snapshot: every figure comes from the same moment, and no writer is held up.
        await using var snapshot = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await connection.ExecuteAsync("SET TRANSACTION READ ONLY", transaction: snapshot);
        var counts = await connection.QueryAsync<(string? La, string Status, long Count)>(
            """
            SELECT d.local_authority, p.status, SUM(p.n)::bigint
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
        // The median: the middle value, or the mean of the middle two (percentile_cont interpolates
        // exactly that at 0.5), per local authority and nationally, from one read of the completions.
        var medians = (await connection.QueryAsync<(bool National, string? La, double? Days)>(
            """
            WITH durations AS MATERIALIZED (
                SELECT d.local_authority AS la,
                       EXTRACT(EPOCH FROM ((e.state ->> 'completedAt')::timestamptz - (e.state ->> 'enrolledAt')::timestamptz))::double precision / 86400 AS days
                FROM enrolments e LEFT JOIN school_details d ON d.school_urn = e.school_urn
                WHERE e.status = 'completed')
            SELECT false, la, percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FROM durations GROUP BY la
            UNION ALL
            SELECT true, NULL, percentile_cont(0.5) WITHIN GROUP (ORDER BY days) FROM durations
            """, transaction: snapshot)).ToList();
        var nationalMedian = medians.Single(m => m.National).Days;
        var areaMedians = medians.Where(m => !m.National).ToDictionary(m => m.La ?? "", m => m.Days);
        var nudges = (await connection.QueryAsync<(string? La, long Count)>(
            """
            SELECT d.local_authority, COUNT(*)
            FROM outbox o
            JOIN enrolments e ON e.id = o.enrolment_id
            LEFT JOIN school_details d ON d.school_urn = e.school_urn
            WHERE o.kind = 'email' AND o.status = 'sent' AND o.template = ANY(@templates)
            GROUP BY d.local_authority
            """, new { templates = reminderTemplates.ToArray() }, snapshot)).ToDictionary(r => r.La ?? "", r => r.Count);
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

    public async ValueTask DisposeAsync()
    {
        await _saves.DisposeAsync();
        await _reads.DisposeAsync();
        await _dataSource.DisposeAsync();
    }

    private static long Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    private static long? Ms(DateTimeOffset? at) => at?.ToUnixTimeMilliseconds();

    private static DateTimeOffset At(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset? At(long? ms) => ms is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms.Value);

    private static EnrolmentState State(string json) => JsonSerializer.Deserialize<EnrolmentState>(json, JsonBody.Options)!;

    private static EnrolmentState State(byte[] utf8Json) => JsonSerializer.Deserialize<EnrolmentState>(utf8Json, JsonBody.Options)!;

    /// <summary>A state as <c>jsonb</c> in UTF-8, as it goes on the wire (no string in between).</summary>
    private static byte[] Jsonb(EnrolmentState state) => JsonSerializer.SerializeToUtf8Bytes(state, JsonBody.Options);

    private static string StatusName(EnrolmentStatus status) => JsonNamingPolicy.SnakeCaseLower.ConvertName(status.ToString());

    /// <summary>
    /// States for an <c>unnest</c>, sent as a <c>jsonb[]</c> of UTF-8 bytes. Dapper would send a <c>byte[][]</c>
    /// as <c>bytea[]</c>, so the parameter says its type itself.
    /// </summary>
    private sealed class JsonbArray(byte[][] values) : SqlMapper.ICustomQueryParameter
    {
        public void AddParameter(System.Data.IDbCommand command, string name) =>
            command.Parameters.Add(new NpgsqlParameter<byte[][]>(name, NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb) { TypedValue = values });
    }

    /// <summary>Queries shared by reads and transactions.</summary>
    private static class Sql
    {
        public const string OutboxColumns =
            "id, dedupe_key AS DedupeKey, enrolment_id AS EnrolmentId, kind, template, payload, status, attempts, " +
            "next_attempt_at AS NextAttemptAt, last_error AS LastError, created_at AS CreatedAt, sent_at AS SentAt";

        public const string CertificateColumns =
            "number, enrolment_id AS EnrolmentId, version, school_urn AS SchoolUrn, status, details, sha256, " +
            "issued_at AS IssuedAt, revoked_at AS RevokedAt, revoked_reason AS RevokedReason";

        public const string WebhookSubscriptionColumns =
            "id, client_id AS ClientId, url, events, secret, created_at AS CreatedAt, disabled_at AS DisabledAt, disabled_reason AS DisabledReason";

        public const string SchoolContactColumns = "id, school_urn AS SchoolUrn, name, email, created_at AS CreatedAt";

        public static async Task<StoredEnrolment?> GetEnrolmentAsync(NpgsqlConnection c, NpgsqlTransaction? tx, Guid id)
        {
            // In a transaction the row is locked until commit, so the decision made on it is saved
            // (as SQLite's single writer guarantees): a concurrent writer waits instead of failing it.
            var found = await QueryEnrolmentsAsync(c, tx,
                "SELECT state, version, next_wake_at FROM enrolments WHERE id = @id" + (tx is null ? "" : " FOR NO KEY UPDATE"),
                new NpgsqlParameter<Guid>("id", id));
            return found.Count == 0 ? null : found[0];
        }

        /// <summary>
        /// Enrolments from rows of (state, version, next_wake_at). Read by hand rather than through Dapper, so
        /// the state is taken as the UTF-8 bytes the server sends and parsed from them: through a string it
        /// would be decoded, copied at twice the size and encoded again, a thousand times per batch.
        /// </summary>
        public static async Task<List<StoredEnrolment>> QueryEnrolmentsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sql,
            params NpgsqlParameter[] parameters)
        {
            await using var command = new NpgsqlCommand(sql, c, tx);
            command.Parameters.AddRange(parameters);
            await using var reader = await command.ExecuteReaderAsync();
            var found = new List<StoredEnrolment>();
            while (await reader.ReadAsync())
            {
                found.Add(new StoredEnrolment(State(reader.GetFieldValue<byte[]>(0)), reader.GetInt64(1),
                    reader.IsDBNull(2) ? null : At(reader.GetInt64(2))));
            }

            return found;
        }

        public static async Task<Guid?> FindEnrolmentIdAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string programmeId, string schoolUrn, string externalId) =>
            await c.QuerySingleOrDefaultAsync<Guid?>(
                "SELECT id FROM enrolments WHERE programme_id = @programmeId AND school_urn = @schoolUrn AND external_id = @externalId",
                new { programmeId, schoolUrn, externalId }, tx);

        /// <summary>In a transaction the session row is locked, so bookings against its capacity are decided one at a time.</summary>
        public static async Task<LiveSession?> GetSessionAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string id) =>
            (await c.QuerySingleOrDefaultAsync<SessionRow>(
                "SELECT id, programme_id AS ProgrammeId, title, starts_at AS StartsAt, ends_at AS EndsAt, location, capacity FROM live_sessions WHERE id = @id"
                + (tx is null ? "" : " FOR UPDATE"),
                new { id }, tx))?.ToSession();

        public static async Task<StoredCertificate?> QueryCertificateAsync(NpgsqlConnection c, string where, object args, bool withPdf) =>
            (await c.QuerySingleOrDefaultAsync<CertificateRow>(
                $"SELECT {CertificateColumns}{(withPdf ? ", pdf" : "")} FROM certificates WHERE {where}", args))?.ToCertificate();

        public static Task<int> CountActiveBookingsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string sessionId) =>
            c.ExecuteScalarAsync<int>("SELECT COUNT(*) FROM session_bookings WHERE session_id = @sessionId AND status = 'booked'",
                new { sessionId }, tx);

        public static async Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(NpgsqlConnection c, NpgsqlTransaction? tx, string schoolUrn) =>
            (await c.QueryAsync<SchoolContactRow>(
                $"SELECT {SchoolContactColumns} FROM school_contacts WHERE school_urn = @schoolUrn ORDER BY created_at, id",
                new { schoolUrn }, tx)).Select(r => r.ToContact()).ToList();
    }

    /// <summary>One unit of work: a transaction on its own pooled connection.</summary>
    private sealed class WriteTransaction(NpgsqlConnection connection, NpgsqlTransaction transaction) : IStoreTransaction
    {
        public Task<StoredEnrolment?> GetEnrolmentAsync(Guid id) => Sql.GetEnrolmentAsync(connection, transaction, id);

        public Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId) =>
            Sql.FindEnrolmentIdAsync(connection, transaction, programmeId, schoolUrn, externalId);

        /// <summary>One query; the rows are locked in id order, so two batches about the same people cannot deadlock.</summary>
        public async Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(
            IReadOnlyCollection<Guid> ids, IReadOnlyCollection<(string SchoolUrn, string ExternalId)> people) =>
            await Sql.QueryEnrolmentsAsync(connection, transaction,
                """
                SELECT state, version, next_wake_at FROM enrolments
                WHERE id IN (SELECT unnest(@ids)
                             UNION
                             SELECT e.id FROM enrolments e
                             JOIN unnest(@schools, @externalIds) AS p(school_urn, external_id)
                               ON e.school_urn = p.school_urn AND e.external_id = p.external_id)
                ORDER BY id
                FOR NO KEY UPDATE
                """,
                new NpgsqlParameter<Guid[]>("ids", ids.Distinct().ToArray()),
                new NpgsqlParameter<string[]>("schools", people.Select(p => p.SchoolUrn).ToArray()),
                new NpgsqlParameter<string[]>("externalIds", people.Select(p => p.ExternalId).ToArray()));

        public async Task<IReadOnlySet<(Guid EnrolmentId, string Key)>> StoredEventKeysAsync(IReadOnlyCollection<(Guid EnrolmentId, string Key)> keys) =>
            keys.Count == 0
                ? new HashSet<(Guid, string)>()
                : (await connection.QueryAsync<(Guid EnrolmentId, string Key)>(
                    """
                    SELECT e.enrolment_id, e.event_key FROM enrolment_events e
                    JOIN unnest(@enrolmentIds, @keys) AS k(enrolment_id, event_key) ON e.enrolment_id = k.enrolment_id AND e.event_key = k.event_key
                    """,
                    new { enrolmentIds = keys.Select(k => k.EnrolmentId).ToArray(), keys = keys.Select(k => k.Key).ToArray() }, transaction))
                .ToHashSet();

        /// <summary>Each part is one statement from arrays: the states (checked against their versions), the events, the effects.</summary>
        public async Task<bool> SaveDecisionsAsync(DecisionBatch batch, DateTimeOffset now)
        {
            if (batch.States.Count > 0)
            {
                var saved = await connection.ExecuteAsync(
                    """
                    UPDATE enrolments e SET status = u.status, state = u.state, version = u.version, next_wake_at = u.next_wake_at,
                        wake_lease_until = NULL, updated_at = @now
                    FROM unnest(@ids, @expected, @versions, @statuses, @states, @nextWakeAts) AS u(id, expected, version, status, state, next_wake_at)
                    WHERE e.id = u.id AND e.version = u.expected
                    """,
                    new
                    {
                        ids = batch.States.Select(w => w.State.Id).ToArray(),
                        expected = batch.States.Select(w => w.ExpectedVersion).ToArray(),
                        versions = batch.States.Select(w => w.Version).ToArray(),
                        statuses = batch.States.Select(w => StatusName(w.State.Status)).ToArray(),
                        states = new JsonbArray(batch.States.Select(w => Jsonb(w.State)).ToArray()),
                        nextWakeAts = batch.States.Select(w => Ms(w.NextWakeAt)).ToArray(),
                        now = Ms(now),
                    }, transaction);
                if (saved != batch.States.Count)
                {
                    return false;
                }
            }

            await AppendEventsAsync(batch.Events, now);
            await EnqueueAsync(batch.Effects, now);
            return true;
        }

        /// <summary>Events as one multi-row insert from arrays; one already stored (by enrolment and key) is skipped.</summary>
        private async Task AppendEventsAsync(IReadOnlyList<AppendedEvent> events, DateTimeOffset now)
        {
            if (events.Count == 0)
            {
                return;
            }

            await connection.ExecuteAsync(
                """
                INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
                SELECT u.enrolment_id, u.event_key, u.type, u.payload, @now
                FROM unnest(@enrolmentIds, @keys, @types, @payloads) AS u(enrolment_id, event_key, type, payload)
                ON CONFLICT (enrolment_id, event_key) DO NOTHING
                """,
                new
                {
                    enrolmentIds = events.Select(e => e.EnrolmentId).ToArray(),
                    keys = events.Select(e => e.Key).ToArray(),
                    types = events.Select(e => EventKeys.TypeName(e.Event)).ToArray(),
                    payloads = events.Select(e => JsonSerializer.Serialize(e.Event, JsonBody.Options)).ToArray(),
                    now = Ms(now),
                }, transaction);
        }

        public async Task<bool> InsertEnrolmentAsync(EnrolmentState state, DateTimeOffset? nextWakeAt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO enrolments (id, programme_id, programme_version, school_urn, external_id, status, state, version, next_wake_at, created_at, updated_at)
                VALUES (@id, @programmeId, @programmeVersion, @schoolUrn, @externalId, @status, @state::jsonb, 1, @nextWakeAt, @now, @now)
                ON CONFLICT (programme_id, school_urn, external_id) DO NOTHING
                """,
                new
                {
                    id = state.Id, programmeId = state.ProgrammeId, programmeVersion = state.ProgrammeVersion,
                    schoolUrn = state.SchoolUrn, externalId = state.Staff.ExternalId, status = StatusName(state.Status),
                    state = JsonSerializer.Serialize(state, JsonBody.Options), nextWakeAt = Ms(nextWakeAt), now = Ms(now),
                }, transaction) == 1;

        /// <summary>Three statements for the whole batch (enrolments, events, effects), each a multi-row insert from arrays.</summary>
        public async Task<IReadOnlySet<Guid>> InsertEnrolmentsAsync(IReadOnlyList<NewEnrolment> enrolments, DateTimeOffset now)
        {
            if (enrolments.Count == 0)
            {
                return new HashSet<Guid>();
            }

            // unnest keeps the batch's order, so of two rows for the same person the first is the one inserted.
            var inserted = (await connection.QueryAsync<Guid>(
                """
                INSERT INTO enrolments (id, programme_id, programme_version, school_urn, external_id, status, state, version, next_wake_at, created_at, updated_at)
                SELECT u.id, u.programme_id, u.programme_version, u.school_urn, u.external_id, u.status, u.state, 1, u.next_wake_at, @now, @now
                FROM unnest(@ids, @programmeIds, @programmeVersions, @schoolUrns, @externalIds, @statuses, @states, @nextWakeAts)
                    AS u(id, programme_id, programme_version, school_urn, external_id, status, state, next_wake_at)
                ON CONFLICT (programme_id, school_urn, external_id) DO NOTHING
                RETURNING id
                """,
                new
                {
                    ids = enrolments.Select(e => e.State.Id).ToArray(),
                    programmeIds = enrolments.Select(e => e.State.ProgrammeId).ToArray(),
                    programmeVersions = enrolments.Select(e => e.State.ProgrammeVersion).ToArray(),
                    schoolUrns = enrolments.Select(e => e.State.SchoolUrn).ToArray(),
                    externalIds = enrolments.Select(e => e.State.Staff.ExternalId).ToArray(),
                    statuses = enrolments.Select(e => StatusName(e.State.Status)).ToArray(),
                    states = new JsonbArray(enrolments.Select(e => Jsonb(e.State)).ToArray()),
                    nextWakeAts = enrolments.Select(e => Ms(e.NextWakeAt)).ToArray(),
                    now = Ms(now),
                }, transaction)).ToHashSet();
            var added = enrolments.Where(e => inserted.Contains(e.State.Id)).ToList();
            if (added.Count == 0)
            {
                return inserted;
            }

            await AppendEventsAsync(added.Select(e => new AppendedEvent(e.State.Id, e.EventKey, e.Event)).ToList(), now);
            await EnqueueAsync(added.SelectMany(e => e.Effects.Select(effect => ((Guid?)e.State.Id, effect))).ToList(), now);
            return inserted;
        }

        public async Task<bool> UpdateEnrolmentAsync(EnrolmentState state, long expectedVersion, DateTimeOffset? nextWakeAt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                UPDATE enrolments SET status = @status, state = @state::jsonb, version = version + 1, next_wake_at = @nextWakeAt,
                    wake_lease_until = NULL, updated_at = @now
                WHERE id = @id AND version = @expectedVersion
                """,
                new
                {
                    id = state.Id, status = StatusName(state.Status), state = JsonSerializer.Serialize(state, JsonBody.Options),
                    expectedVersion, nextWakeAt = Ms(nextWakeAt), now = Ms(now),
                }, transaction) == 1;

        public Task DeferWakeAsync(Guid id, DateTimeOffset until) =>
            connection.ExecuteAsync("UPDATE enrolments SET next_wake_at = @until, wake_lease_until = NULL WHERE id = @id",
                new { id, until = Ms(until) }, transaction);

        public async Task<bool> AppendEventAsync(Guid enrolmentId, string key, WorkflowEvent evt, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO enrolment_events (enrolment_id, event_key, type, payload, recorded_at)
                VALUES (@enrolmentId, @key, @type, @payload, @now)
                ON CONFLICT (enrolment_id, event_key) DO NOTHING
                """,
                new { enrolmentId, key, type = EventKeys.TypeName(evt), payload = JsonSerializer.Serialize(evt, JsonBody.Options), now = Ms(now) },
                transaction) == 1;

        public Task EnqueueEffectsAsync(Guid? enrolmentId, IEnumerable<Effect> effects, DateTimeOffset now) =>
            EnqueueAsync(effects.Select(effect => (enrolmentId, effect)).ToList(), now);

        private async Task EnqueueAsync(IReadOnlyList<(Guid? EnrolmentId, Effect Effect)> effects, DateTimeOffset now) =>
            await InsertOutboxAsync(await OutboxRowsAsync(connection, transaction, effects), now);

        /// <summary>One row the common way (its statement stays prepared); several as one insert from arrays.</summary>
        private Task InsertOutboxAsync(IReadOnlyList<OutboxInsert> rows, DateTimeOffset now) => rows.Count switch
        {
            0 => Task.CompletedTask,
            1 => connection.ExecuteAsync(
                """
                INSERT INTO outbox (dedupe_key, enrolment_id, kind, template, payload, status, attempts, next_attempt_at, created_at)
                VALUES (@DedupeKey, @EnrolmentId, @Kind, @Template, @Payload, 'pending', 0, @now, @now)
                ON CONFLICT (dedupe_key) DO NOTHING
                """,
                new { rows[0].DedupeKey, rows[0].EnrolmentId, rows[0].Kind, rows[0].Template, rows[0].Payload, now = Ms(now) }, transaction),
            _ => connection.ExecuteAsync(
                """
                INSERT INTO outbox (dedupe_key, enrolment_id, kind, template, payload, status, attempts, next_attempt_at, created_at)
                SELECT u.dedupe_key, u.enrolment_id, u.kind, u.template, u.payload, 'pending', 0, @now, @now
                FROM unnest(@keys, @enrolmentIds, @kinds, @templates, @payloads) AS u(dedupe_key, enrolment_id, kind, template, payload)
                ON CONFLICT (dedupe_key) DO NOTHING
                """,
                new
                {
                    keys = rows.Select(r => r.DedupeKey).ToArray(), enrolmentIds = rows.Select(r => r.EnrolmentId).ToArray(),
                    kinds = rows.Select(r => r.Kind).ToArray(), templates = rows.Select(r => r.Template).ToArray(),
                    payloads = rows.Select(r => r.Payload).ToArray(), now = Ms(now),
                }, transaction),
        };

        /// <summary>Locks the enrolment first, so two workers never number a new certificate the same.</summary>
        public async Task<int> LatestCertificateVersionAsync(Guid enrolmentId)
        {
            await connection.ExecuteAsync("SELECT 1 FROM enrolments WHERE id = @enrolmentId FOR NO KEY UPDATE", new { enrolmentId }, transaction);
            return await connection.ExecuteScalarAsync<int>("SELECT COALESCE(MAX(version), 0) FROM certificates WHERE enrolment_id = @enrolmentId",
                new { enrolmentId }, transaction);
        }

        public async Task InsertCertificateAsync(StoredCertificate c)
        {
            await connection.ExecuteAsync(
                "UPDATE certificates SET status = 'superseded' WHERE enrolment_id = @enrolmentId AND status = 'valid'",
                new { enrolmentId = c.EnrolmentId }, transaction);
            await connection.ExecuteAsync(
                """
                INSERT INTO certificates (number, enrolment_id, version, school_urn, status, details, sha256, pdf, issued_at)
                VALUES (@Number, @EnrolmentId, @Version, @SchoolUrn, @Status, @Details, @Sha256, @Pdf, @issuedAt)
                """,
                new { c.Number, c.EnrolmentId, c.Version, c.SchoolUrn, c.Status, c.Details, c.Sha256, c.Pdf, issuedAt = Ms(c.IssuedAt) },
                transaction);
        }

        public async Task<bool> RevokeCertificateAsync(string number, string reason, DateTimeOffset now) =>
            await connection.ExecuteAsync(
                "UPDATE certificates SET status = 'revoked', revoked_at = @now, revoked_reason = @reason WHERE number = @number AND status = 'valid'",
                new { number, reason, now = Ms(now) }, transaction) == 1;

        public Task InsertClientAsync(ApiClient client, string keyHash) =>
            connection.ExecuteAsync(
                "INSERT INTO api_clients (id, name, key_hash, scopes, created_at) VALUES (@id, @name, @keyHash, @scopes, @createdAt) ON CONFLICT (key_hash) DO NOTHING",
                new { id = client.Id, name = client.Name, keyHash, scopes = string.Join(' ', client.Scopes), createdAt = Ms(client.CreatedAt) },
                transaction);

        public async Task<bool> RevokeClientAsync(Guid id, DateTimeOffset now) =>
            await connection.ExecuteAsync("UPDATE api_clients SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
                new { id, now = Ms(now) }, transaction) == 1;

        /// <summary>Two publishers of the same programme at once take turns (an advisory lock on its id), so versions never collide.</summary>
        public async Task<int> InsertProgrammeVersionAsync(string id, string document, DateTimeOffset now)
        {
            await Lock("programme", id);
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

        /// <summary>A transaction-scoped advisory lock on a name: released at commit or rollback.</summary>
        private Task Lock(string purpose, string name) =>
            connection.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", new { key = purpose + ":" + name }, transaction);

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
            (await connection.QueryAsync<Guid>(
                "SELECT enrolment_id FROM session_bookings WHERE session_id = @sessionId AND status = 'booked' ORDER BY enrolment_id::text",
                new { sessionId }, transaction)).ToList();

        public Task<string?> GetBookingStatusAsync(string sessionId, Guid enrolmentId) =>
            connection.QuerySingleOrDefaultAsync<string?>(
                "SELECT status FROM session_bookings WHERE session_id = @sessionId AND enrolment_id = @enrolmentId",
                new { sessionId, enrolmentId }, transaction);

        public Task SetBookingAsync(string sessionId, Guid enrolmentId, string status, DateTimeOffset now) =>
            connection.ExecuteAsync(
                """
                INSERT INTO session_bookings (session_id, enrolment_id, status, updated_at) VALUES (@sessionId, @enrolmentId, @status, @now)
                ON CONFLICT (session_id, enrolment_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
                """,
                new { sessionId, enrolmentId, status, now = Ms(now) }, transaction);

        public async Task<bool> RecordDeliveryAsync(EmailDelivery d) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO email_deliveries (event_id, enrolment_id, template, event, occurred_at, detail)
                VALUES (@EventId, @EnrolmentId, @Template, @Event, @occurredAt, @Detail)
                ON CONFLICT (event_id) DO NOTHING
                """,
                new { d.EventId, d.EnrolmentId, d.Template, d.Event, occurredAt = Ms(d.OccurredAt), d.Detail }, transaction) == 1;

        public Task SuppressAsync(string email, string reason, string? detail, DateTimeOffset now) =>
            connection.ExecuteAsync(
                "INSERT INTO suppressions (email, reason, detail, created_at) VALUES (@email, @reason, @detail, @now) ON CONFLICT (email) DO NOTHING",
                new { email = email.ToLowerInvariant(), reason, detail, now = Ms(now) }, transaction);

        /// <summary>
        /// SKIP LOCKED passes over rows another worker is claiming at this moment; the lease keeps the
        /// claimed rows from every other worker after this transaction commits, until it expires.
        /// </summary>
        public async Task<IReadOnlyList<OutboxItem>> ClaimDueOutboxAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil) =>
            (await connection.QueryAsync<OutboxRow>(
                $"""
                 UPDATE outbox SET lease_until = @leaseUntil
                 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= @now
                              AND (lease_until IS NULL OR lease_until <= @now)
                              ORDER BY next_attempt_at LIMIT @limit FOR UPDATE SKIP LOCKED)
                 RETURNING {Sql.OutboxColumns}
                 """,
                new { now = Ms(now), limit, leaseUntil = Ms(leaseUntil) }, transaction)).OrderBy(r => r.Id).Select(r => r.ToItem()).ToList();

        public Task MarkSentAsync(IReadOnlyCollection<long> ids, DateTimeOffset now) =>
            ids.Count == 0
                ? Task.CompletedTask
                : connection.ExecuteAsync(
                    "UPDATE outbox SET status = 'sent', sent_at = @now, attempts = attempts + 1, lease_until = NULL, last_error = NULL WHERE id = ANY(@ids) AND status = 'pending'",
                    new { ids = ids.ToArray(), now = Ms(now) }, transaction);

        public Task MarkFailedAsync(long id, int attempts, DateTimeOffset? retryAt, string error) =>
            connection.ExecuteAsync(
                """
                UPDATE outbox SET attempts = @attempts, lease_until = NULL, last_error = @error,
                    status = CASE WHEN @retryAt::bigint IS NULL THEN 'dead' ELSE 'pending' END,
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
                new { clientId, key, requestHash, now = Ms(now), staleBefore = Ms(staleBefore) }, transaction) == 1;

        public Task SaveResponseAsync(Guid clientId, string key, int statusCode, string? contentType, byte[] body) =>
            connection.ExecuteAsync(
                "UPDATE idempotent_requests SET status_code = @statusCode, content_type = @contentType, body = @body WHERE client_id = @clientId AND key = @key",
                new { clientId, key, statusCode, contentType, body }, transaction);

        public Task ReleaseResponseAsync(Guid clientId, string key) =>
            connection.ExecuteAsync("DELETE FROM idempotent_requests WHERE client_id = @clientId AND key = @key AND status_code IS NULL",
                new { clientId, key }, transaction);

        public Task<int> ForgetResponsesBeforeAsync(DateTimeOffset cutoff) =>
            connection.ExecuteAsync("DELETE FROM idempotent_requests WHERE created_at < @cutoff", new { cutoff = Ms(cutoff) }, transaction);

        public Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(string schoolUrn) => Sql.SchoolContactsAsync(connection, transaction, schoolUrn);

        /// <summary>Locks the address at the school first, so two requests adding it at once find one another.</summary>
        public async Task<SchoolContact?> FindSchoolContactByEmailAsync(string schoolUrn, string email)
        {
            await Lock("school-contact", schoolUrn + " " + email.ToLowerInvariant());
            return (await connection.QuerySingleOrDefaultAsync<SchoolContactRow>(
                $"SELECT {Sql.SchoolContactColumns} FROM school_contacts WHERE school_urn = @schoolUrn AND lower(email) = lower(@email)",
                new { schoolUrn, email }, transaction))?.ToContact();
        }

        public Task InsertSchoolContactAsync(SchoolContact contact) =>
            connection.ExecuteAsync(
                "INSERT INTO school_contacts (id, school_urn, name, email, created_at) VALUES (@Id, @SchoolUrn, @Name, @Email, @createdAt)",
                new { contact.Id, contact.SchoolUrn, contact.Name, contact.Email, createdAt = Ms(contact.CreatedAt) }, transaction);

        public async Task<bool> DeleteSchoolContactAsync(string schoolUrn, Guid id) =>
            await connection.ExecuteAsync("DELETE FROM school_contacts WHERE school_urn = @schoolUrn AND id = @id",
                new { schoolUrn, id }, transaction) == 1;

        public async Task<bool> InsertSchoolDigestAsync(SchoolDigestRecord d) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO school_digests (school_urn, week_start, people_listed, people_behind, emails, created_at)
                VALUES (@SchoolUrn, @weekStart::date, @PeopleListed, @PeopleBehind, @Emails, @createdAt)
                ON CONFLICT (school_urn, week_start) DO NOTHING
                """,
                new { d.SchoolUrn, weekStart = SqliteStore.Day(d.WeekStart), d.PeopleListed, d.PeopleBehind, d.Emails, createdAt = Ms(d.CreatedAt) },
                transaction) == 1;

        public async Task<IReadOnlyList<Guid>> FindEnrolmentIdsAsync(string schoolUrn, string externalId) =>
            (await connection.QueryAsync<Guid>(
                "SELECT id FROM enrolments WHERE school_urn = @schoolUrn AND external_id = @externalId ORDER BY programme_id COLLATE \"C\"",
                new { schoolUrn, externalId }, transaction)).ToList();

        /// <summary>
        /// Locks the ids first (in one order, so two batches cannot deadlock): a request sending the
        /// same statement id at the same moment waits, then finds this one's and is compared with it.
        /// </summary>
        public async Task<IReadOnlyList<StoredXapiStatement>> FindXapiStatementsAsync(IReadOnlyCollection<Guid> ids)
        {
            if (ids.Count == 0)
            {
                return [];
            }

            await connection.ExecuteAsync(
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtextextended('xapi:' || x::text, 0) AS k FROM unnest(@ids) AS x ORDER BY 1) locks",
                new { ids = ids.Distinct().ToArray() }, transaction);
            return (await connection.QueryAsync<XapiStatementRow>(
                    "SELECT id, content_hash AS ContentHash, occurred_at AS OccurredAt FROM xapi_statements WHERE id = ANY(@ids)",
                    new { ids = ids.Distinct().ToArray() }, transaction))
                .Select(r => new StoredXapiStatement(r.Id, r.ContentHash, At(r.OccurredAt))).ToList();
        }

        public async Task<bool> InsertXapiStatementAsync(XapiStatementRecord s) =>
            await connection.ExecuteAsync(
                """
                INSERT INTO xapi_statements (id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
                VALUES (@Id, @EnrolmentId, @Verb, @ContentHash, @occurredAt, @Statement, @ClientId, @storedAt)
                ON CONFLICT (id) DO NOTHING
                """,
                new { s.Id, s.EnrolmentId, s.Verb, s.ContentHash, occurredAt = Ms(s.OccurredAt), s.Statement, s.ClientId, storedAt = Ms(s.StoredAt) },
                transaction) == 1;

        public Task InsertXapiStatementsAsync(IReadOnlyList<XapiStatementRecord> statements) =>
            connection.ExecuteAsync(
                """
                INSERT INTO xapi_statements (id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
                SELECT u.id, u.enrolment_id, u.verb, u.content_hash, u.occurred_at, u.statement, u.client_id, u.stored_at
                FROM unnest(@ids, @enrolmentIds, @verbs, @hashes, @occurredAts, @statements, @clientIds, @storedAts)
                    AS u(id, enrolment_id, verb, content_hash, occurred_at, statement, client_id, stored_at)
                ON CONFLICT (id) DO NOTHING
                """,
                new
                {
                    ids = statements.Select(s => s.Id).ToArray(),
                    enrolmentIds = statements.Select(s => s.EnrolmentId).ToArray(),
                    verbs = statements.Select(s => s.Verb).ToArray(),
                    hashes = statements.Select(s => s.ContentHash).ToArray(),
                    occurredAts = statements.Select(s => Ms(s.OccurredAt)).ToArray(),
                    statements = statements.Select(s => s.Statement).ToArray(),
                    clientIds = statements.Select(s => s.ClientId).ToArray(),
                    storedAts = statements.Select(s => Ms(s.StoredAt)).ToArray(),
                }, transaction);

        /// <summary>Locks the client's subscriptions first, so two requests at once cannot both pass the limit.</summary>
        public async Task<int> CountWebhookSubscriptionsAsync(Guid clientId)
        {
            await Lock("webhook-subscriptions", clientId.ToString());
            return await connection.ExecuteScalarAsync<int>("SELECT COUNT(*) FROM webhook_subscriptions WHERE client_id = @clientId", new { clientId }, transaction);
        }

        public Task InsertWebhookSubscriptionAsync(WebhookSubscription w) =>
            connection.ExecuteAsync(
                """
                INSERT INTO webhook_subscriptions (id, client_id, url, events, secret, created_at)
                VALUES (@Id, @ClientId, @Url, @events::jsonb, @Secret, @createdAt)
                """,
                new { w.Id, w.ClientId, w.Url, events = JsonSerializer.Serialize(w.Events), w.Secret, createdAt = Ms(w.CreatedAt) }, transaction);

        public async Task<bool> DeleteWebhookSubscriptionAsync(Guid clientId, Guid id)
        {
            var deleted = await connection.ExecuteAsync("DELETE FROM webhook_subscriptions WHERE id = @id AND client_id = @clientId",
                new { id, clientId }, transaction) == 1;
            if (deleted)
            {
                // Its pending deliveries are cancelled when the dispatcher finds it gone.
                await connection.ExecuteAsync("DELETE FROM webhook_deliveries WHERE subscription_id = @id", new { id }, transaction);
            }

            return deleted;
        }

        public Task DisableWebhookSubscriptionAsync(Guid id, string reason, DateTimeOffset now) =>
            connection.ExecuteAsync(
                "UPDATE webhook_subscriptions SET disabled_at = @now, disabled_reason = @reason WHERE id = @id AND disabled_at IS NULL",
                new { id, reason, now = Ms(now) }, transaction);

        public Task RecordWebhookAttemptAsync(WebhookAttempt a) =>
            connection.ExecuteAsync(
                """
                INSERT INTO webhook_deliveries (subscription_id, outbox_id, event_type, webhook_id, attempt, attempted_at, status_code, error, outcome, next_attempt_at)
                VALUES (@SubscriptionId, @OutboxId, @EventType, @WebhookId, @Attempt, @attemptedAt, @StatusCode, @Error, @Outcome, @nextAttemptAt)
                """,
                new
                {
                    a.SubscriptionId, a.OutboxId, a.EventType, a.WebhookId, a.Attempt, attemptedAt = Ms(a.AttemptedAt),
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

        public Task CommitAsync() => transaction.CommitAsync();

        /// <summary>Disposing an uncommitted transaction rolls it back; the connection goes back to the pool.</summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                await transaction.DisposeAsync();
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    private sealed record OutboxInsert(string DedupeKey, Guid? EnrolmentId, string Kind, string Template, string Payload);

    // Row shapes are classes with setters, filled by column name.
    private sealed class XapiStatementRow
    {
        public Guid Id { get; set; }
        public string ContentHash { get; set; } = "";
        public long? OccurredAt { get; set; }
    }

    private sealed class ProgrammeRow
    {
        public string Id { get; set; } = "";
        public int Version { get; set; }
        public string Definition { get; set; } = "";
        public long CreatedAt { get; set; }
    }

    private sealed class ClientRow
    {
        public Guid Id { get; set; }
        public string Name { get; set; } = "";
        public string Scopes { get; set; } = "";
        public long CreatedAt { get; set; }
        public long? RevokedAt { get; set; }

        public ApiClient ToClient() => new(Id, Name, Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), At(CreatedAt), At(RevokedAt));
    }

    private sealed class SessionRow
    {
        public string Id { get; set; } = "";
        public string ProgrammeId { get; set; } = "";
        public string Title { get; set; } = "";
        public long StartsAt { get; set; }
        public long EndsAt { get; set; }
        public string Location { get; set; } = "";
        public int Capacity { get; set; }

        public LiveSession ToSession() => new(Id, ProgrammeId, Title, At(StartsAt), At(EndsAt), Location, Capacity);
    }

    private sealed class ResponseRow
    {
        public string RequestHash { get; set; } = "";
        public int? StatusCode { get; set; }
        public string? ContentType { get; set; }
        public byte[]? Body { get; set; }
    }

    private sealed class DeliveryRow
    {
        public string EventId { get; set; } = "";
        public Guid? EnrolmentId { get; set; }
        public string? Template { get; set; }
        public string Event { get; set; } = "";
        public long OccurredAt { get; set; }
        public string? Detail { get; set; }
    }

    private sealed class CertificateRow
    {
        public string Number { get; set; } = "";
        public Guid EnrolmentId { get; set; }
        public int Version { get; set; }
        public string SchoolUrn { get; set; } = "";
        public string Status { get; set; } = "";
        public string Details { get; set; } = "";
        public string Sha256 { get; set; } = "";
        public byte[]? Pdf { get; set; }
        public long IssuedAt { get; set; }
        public long? RevokedAt { get; set; }
        public string? RevokedReason { get; set; }

        public StoredCertificate ToCertificate() => new(Number, EnrolmentId, Version, SchoolUrn, Status, Details, Sha256, Pdf,
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
        public Guid Id { get; set; }
        public string SchoolUrn { get; set; } = "";
        public string Name { get; set; } = "";
        public string Email { get; set; } = "";
        public long CreatedAt { get; set; }

        public SchoolContact ToContact() => new(Id, SchoolUrn, Name, Email, At(CreatedAt));
    }

    private sealed class WebhookSubscriptionRow
    {
        public Guid Id { get; set; }
        public Guid ClientId { get; set; }
        public string Url { get; set; } = "";
        public string Events { get; set; } = "[]";
        public string Secret { get; set; } = "";
        public long CreatedAt { get; set; }
        public long? DisabledAt { get; set; }
        public string? DisabledReason { get; set; }

        public WebhookSubscription ToSubscription() => new(Id, ClientId, Url,
            JsonSerializer.Deserialize<List<string>>(Events) ?? [], Secret, At(CreatedAt), At(DisabledAt), DisabledReason);
    }

    private sealed class WebhookAttemptRow
    {
        public Guid SubscriptionId { get; set; }
        public long OutboxId { get; set; }
        public string EventType { get; set; } = "";
        public string WebhookId { get; set; } = "";
        public int Attempt { get; set; }
        public long AttemptedAt { get; set; }
        public int? StatusCode { get; set; }
        public string? Error { get; set; }
        public string Outcome { get; set; } = "";
        public long? NextAttemptAt { get; set; }

        public WebhookAttempt ToAttempt() => new(SubscriptionId, OutboxId, EventType, WebhookId, Attempt, At(AttemptedAt),
            StatusCode, Error, Outcome, At(NextAttemptAt));
    }

    private sealed class OutboxRow
    {
        public long Id { get; set; }
        public string DedupeKey { get; set; } = "";
        public Guid? EnrolmentId { get; set; }
        public string Kind { get; set; } = "";
        public string Template { get; set; } = "";
        public string Payload { get; set; } = "";
        public string Status { get; set; } = "";
        public int Attempts { get; set; }
        public long NextAttemptAt { get; set; }
        public string? LastError { get; set; }
        public long CreatedAt { get; set; }
        public long? SentAt { get; set; }

        public OutboxItem ToItem() => new(Id, DedupeKey, EnrolmentId, Kind, Template, Payload,
            Status, Attempts, At(NextAttemptAt), LastError, At(CreatedAt), At(SentAt));
    }
}
