using SendWorkflows.Workflow;

namespace SendWorkflows.Storage;

/// <summary>
/// The one seam between the service and its database. Everything that touches SQL is behind it,
/// so another engine (PostgreSQL) is another implementation, and neither the decider nor the
/// endpoints change. Reads run outside any transaction; writes run in an <see cref="IStoreTransaction"/>.
/// </summary>
public interface IWorkflowStore
{
    /// <summary>Applies any migrations not yet applied. Safe to call on every start.</summary>
    Task MigrateAsync(CancellationToken ct);

    /// <summary>Starts a write transaction. Dispose without <see cref="IStoreTransaction.CommitAsync"/> to roll back.</summary>
    Task<IStoreTransaction> BeginAsync(CancellationToken ct);

    Task<StoredEnrolment?> GetEnrolmentAsync(Guid id, CancellationToken ct);

    /// <summary>
    /// The enrolments with these ids, read together (a sweep batch); an id with no enrolment is left out.
    /// Throws if any of them cannot be read, so a caller can fall back to reading them one at a time.
    /// </summary>
    Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct);

    Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId, CancellationToken ct);
    /// <summary>
    /// Enrolments whose timer is due, earliest first, claimed until <paramref name="leaseUntil"/> so
    /// that other instances sharing the store pass them over; saving the enrolment, or deferring its
    /// wake, ends the claim. A store only one process uses (SQLite) may ignore the lease.
    /// </summary>
    Task<IReadOnlyList<Guid>> DueEnrolmentsAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil, CancellationToken ct);
    Task<bool> HasDueWorkAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Saves one decision atomically, on its own: appends the event, saves the new state if the
    /// stored version is still the one decided on, and enqueues the effects; nothing is written
    /// unless all of it is. This is the hot path of every progress event, so a store may do it in
    /// fewer round trips than <see cref="BeginAsync"/> and the separate calls, which it is equal to.
    /// </summary>
    async Task<SaveOutcome> SaveDecisionAsync(DecisionWrite write, DateTimeOffset now, CancellationToken ct)
    {
        await using var tx = await BeginAsync(ct);
        if (!await tx.AppendEventAsync(write.State.Id, write.EventKey, write.Event, now))
        {
            return SaveOutcome.Duplicate;
        }

        if (!await tx.UpdateEnrolmentAsync(write.State, write.ExpectedVersion, write.NextWakeAt, now))
        {
            return SaveOutcome.VersionMoved;
        }

        await tx.EnqueueEffectsAsync(write.State.Id, write.Effects, now);
        await tx.CommitAsync();
        return SaveOutcome.Saved;
    }

    /// <summary>
    /// Saves many decisions in one transaction (a sweep batch), each with the outcome
    /// <see cref="SaveDecisionAsync"/> would give it on its own: a decision whose event is already
    /// stored, or whose enrolment another writer has saved since, writes nothing, and the others are
    /// saved. Returns one outcome per decision, in order. If it throws, the caller cannot know which
    /// were saved; deciding and saving them again is safe, because a repeat is recognised by its event
    /// key and its version.
    /// </summary>
    Task<IReadOnlyList<SaveOutcome>> SaveDecisionsAsync(IReadOnlyList<DecisionWrite> writes, DateTimeOffset now, CancellationToken ct);

    Task<ApiClient?> FindClientByKeyHashAsync(string keyHash, CancellationToken ct);
    Task<bool> AnyAdminClientAsync(CancellationToken ct);

    Task<StoredProgramme?> GetProgrammeAsync(string id, int? version, CancellationToken ct);

    Task<LiveSession?> GetSessionAsync(string id, CancellationToken ct);
    Task<int> CountActiveBookingsAsync(string sessionId, CancellationToken ct);

    Task<IReadOnlyList<OutboxItem>> ListOutboxAsync(string? status, Guid? enrolmentId, int limit, CancellationToken ct);

    Task<StoredResponse?> FindResponseAsync(Guid clientId, string key, CancellationToken ct);

    /// <summary>A certificate by number, with or without its PDF bytes.</summary>
    Task<StoredCertificate?> GetCertificateAsync(string number, bool withPdf, CancellationToken ct);

    Task<StoredCertificate?> FindCertificateBySha256Async(string sha256, CancellationToken ct);

    /// <summary>The enrolment's latest certificate, without its bytes.</summary>
    Task<StoredCertificate?> CurrentCertificateAsync(Guid enrolmentId, CancellationToken ct);

    /// <summary>Which of these addresses are suppressed (lower case), in one query.</summary>
    Task<IReadOnlySet<string>> SuppressedAmongAsync(IReadOnlyCollection<string> emails, CancellationToken ct);

    /// <summary>What decides whether a reminder may still go to each of these enrolments, in one query.</summary>
    Task<IReadOnlyList<ReminderStanding>> ReminderStandingsAsync(IReadOnlyCollection<Guid> enrolmentIds, CancellationToken ct);

    Task<IReadOnlyList<EmailDelivery>> DeliveriesAsync(Guid enrolmentId, CancellationToken ct);

    /// <summary>Every school's current, unrevoked certificates, with their bytes, in number order.</summary>
    IAsyncEnumerable<StoredCertificate> CurrentCertificatesForSchoolAsync(string schoolUrn, CancellationToken ct);

    /// <summary>The school's digest contacts, oldest first.</summary>
    Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(string schoolUrn, CancellationToken ct);

    Task<SchoolContact?> GetSchoolContactAsync(Guid id, CancellationToken ct);

    /// <summary>
    /// Schools with at least one contact and no digest for <paramref name="weekStart"/> yet, in URN
    /// order after <paramref name="afterUrn"/> (null: from the start), at most <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<string>> SchoolsAwaitingDigestAsync(DateOnly weekStart, string? afterUrn, int limit, CancellationToken ct);

    /// <summary>The school's enrolments that are neither completed nor withdrawn (lapsed ones included), streamed.</summary>
    IAsyncEnumerable<EnrolmentState> UnfinishedEnrolmentsAsync(string schoolUrn, CancellationToken ct);

    /// <summary>The API client's own webhook subscriptions, oldest first.</summary>
    Task<IReadOnlyList<WebhookSubscription>> WebhookSubscriptionsAsync(Guid clientId, CancellationToken ct);

    /// <summary>One of the API client's own subscriptions; null if it has none with that id.</summary>
    Task<WebhookSubscription?> GetWebhookSubscriptionAsync(Guid clientId, Guid id, CancellationToken ct);

    /// <summary>Where each of these subscriptions' deliveries go, in one query; a deleted subscription is absent.</summary>
    Task<IReadOnlyDictionary<Guid, WebhookTarget>> WebhookTargetsAsync(IReadOnlyCollection<Guid> subscriptionIds, CancellationToken ct);

    /// <summary>The subscription's latest delivery attempts, newest first.</summary>
    Task<IReadOnlyList<WebhookAttempt>> WebhookAttemptsAsync(Guid subscriptionId, int limit, CancellationToken ct);

    /// <summary>Every enrolment at the school with its latest certificate, by family name, given name and externalId, streamed.</summary>
    IAsyncEnumerable<ReportedEnrolment> SchoolReportAsync(string schoolUrn, CancellationToken ct);

    /// <summary>The local authority an admin set for the school, if any.</summary>
    Task<string?> LocalAuthorityAsync(string schoolUrn, CancellationToken ct);

    /// <summary>
    /// Enrolments by status, schools, the median days from enrolment to completion, and reminder
    /// emails sent (<paramref name="reminderTemplates"/>), per local authority, and the national
    /// median; all counted in SQL from one consistent view of the store.
    /// </summary>
    Task<StoredProgressSummary> ProgressSummaryAsync(IReadOnlyCollection<string> reminderTemplates, CancellationToken ct);
}

/// <summary>One atomic unit of writes: a state change, its event and its effects commit together or not at all.</summary>
public interface IStoreTransaction : IAsyncDisposable
{
    Task<StoredEnrolment?> GetEnrolmentAsync(Guid id);
    Task<Guid?> FindEnrolmentIdAsync(string programmeId, string schoolUrn, string externalId);

    /// <summary>
    /// In one read, the enrolments with these ids and every enrolment of these people (by school and
    /// externalId), each once, as <see cref="GetEnrolmentAsync(Guid)"/> would read them (and, where a
    /// store locks what a transaction reads, locked in one order).
    /// </summary>
    Task<IReadOnlyList<StoredEnrolment>> GetEnrolmentsAsync(IReadOnlyCollection<Guid> ids, IReadOnlyCollection<(string SchoolUrn, string ExternalId)> people);

    /// <summary>Those of these events (by enrolment and event key) that are already stored.</summary>
    Task<IReadOnlySet<(Guid EnrolmentId, string Key)>> StoredEventKeysAsync(IReadOnlyCollection<(Guid EnrolmentId, string Key)> keys);

    /// <summary>
    /// Writes a batch of decisions made in memory: every new state if its stored version is still the
    /// one decided on, then the events and the effects, in their order. False, having written no event
    /// or effect, when a version has moved: the caller rolls back and decides again.
    /// </summary>
    Task<bool> SaveDecisionsAsync(DecisionBatch batch, DateTimeOffset now);

    /// <summary>Inserts a new enrolment; false when one already exists for the same programme, school and person.</summary>
    Task<bool> InsertEnrolmentAsync(EnrolmentState state, DateTimeOffset? nextWakeAt, DateTimeOffset now);

    /// <summary>
    /// Inserts new enrolments, each with its first event and its effects, as one batch, and returns
    /// the ids inserted. One whose programme, school and person is already enrolled (or comes earlier
    /// in the batch) is skipped with its event and effects, as <see cref="InsertEnrolmentAsync"/> would.
    /// </summary>
    Task<IReadOnlySet<Guid>> InsertEnrolmentsAsync(IReadOnlyList<NewEnrolment> enrolments, DateTimeOffset now);

    /// <summary>Saves the new state if the stored version is still <paramref name="expectedVersion"/>.</summary>
    Task<bool> UpdateEnrolmentAsync(EnrolmentState state, long expectedVersion, DateTimeOffset? nextWakeAt, DateTimeOffset now);

    /// <summary>Moves the enrolment's next wake to <paramref name="until"/> without changing its state.</summary>
    Task DeferWakeAsync(Guid id, DateTimeOffset until);

    /// <summary>Appends the event; false when an event with the same key is already stored.</summary>
    Task<bool> AppendEventAsync(Guid enrolmentId, string key, WorkflowEvent evt, DateTimeOffset now);

    /// <summary>
    /// Writes effects to the outbox; an effect whose dedupe key is already there is skipped.
    /// <paramref name="enrolmentId"/> is null for effects about no one enrolment (a school's digest).
    /// A <see cref="Published"/> event becomes one <c>webhook</c> row per active subscription whose
    /// client may see it (admin: every school; a school's key: its own) and which asked for its type;
    /// none when nobody subscribes.
    /// </summary>
    Task EnqueueEffectsAsync(Guid? enrolmentId, IEnumerable<Effect> effects, DateTimeOffset now);

    /// <summary>The highest certificate version issued for the enrolment, 0 if none.</summary>
    Task<int> LatestCertificateVersionAsync(Guid enrolmentId);

    /// <summary>Stores a newly issued certificate and marks every other valid one of the enrolment superseded.</summary>
    Task InsertCertificateAsync(StoredCertificate certificate);

    /// <summary>Revokes the enrolment's current certificate; false if there is none or it is already revoked.</summary>
    Task<bool> RevokeCertificateAsync(string number, string reason, DateTimeOffset now);

    /// <summary>
    /// Stores a new API client. A key already stored is not stored twice: instances starting together
    /// on one database each make sure the configured admin key exists, and the first one wins.
    /// </summary>
    Task InsertClientAsync(ApiClient client, string keyHash);
    Task<bool> RevokeClientAsync(Guid id, DateTimeOffset now);

    /// <summary>
    /// Stores a new version of the programme and returns its number (1 for the first). When the latest
    /// version is already exactly this document (two instances publishing the bundled programme as
    /// they start together), nothing is stored and that version's number is returned.
    /// </summary>
    Task<int> InsertProgrammeVersionAsync(string id, string document, DateTimeOffset now);

    Task<LiveSession?> GetSessionAsync(string id);
    Task UpsertSessionAsync(LiveSession session, DateTimeOffset now);
    Task<int> CountActiveBookingsAsync(string sessionId);

    /// <summary>The enrolments with a current booking on the session.</summary>
    Task<IReadOnlyList<Guid>> ListBookedEnrolmentsAsync(string sessionId);
    Task<string?> GetBookingStatusAsync(string sessionId, Guid enrolmentId);
    Task SetBookingAsync(string sessionId, Guid enrolmentId, string status, DateTimeOffset now);

    /// <summary>Records a provider's delivery event; false if this event id was already recorded.</summary>
    Task<bool> RecordDeliveryAsync(EmailDelivery delivery);

    /// <summary>Never send to this address again (kept in lower case); an address already suppressed stays as it was.</summary>
    Task SuppressAsync(string email, string reason, string? detail, DateTimeOffset now);

    /// <summary>Claims pending effects that are due and not leased by another worker, leasing them until <paramref name="leaseUntil"/>.</summary>
    Task<IReadOnlyList<OutboxItem>> ClaimDueOutboxAsync(DateTimeOffset now, int limit, DateTimeOffset leaseUntil);
    Task MarkSentAsync(IReadOnlyCollection<long> ids, DateTimeOffset now);

    /// <summary>Records a failed attempt; <paramref name="retryAt"/> null means no more attempts (dead).</summary>
    Task MarkFailedAsync(long id, int attempts, DateTimeOffset? retryAt, string error);
    Task<bool> RequeueAsync(long id, DateTimeOffset now);

    /// <summary>Releases a claimed effect untouched, not to be tried before <paramref name="notBefore"/>; no attempt is counted.</summary>
    Task PostponeAsync(long id, DateTimeOffset notBefore);

    /// <summary>The effect is no longer wanted (a reminder to someone who has since finished or unsubscribed); kept, with the reason, but never performed.</summary>
    Task MarkCancelledAsync(long id, string reason);

    /// <summary>
    /// Reserves an idempotency key for a request; false if it is already reserved, unless that
    /// reservation never got its response (its request died) and was made before <paramref name="staleBefore"/>.
    /// </summary>
    Task<bool> ReserveResponseAsync(Guid clientId, string key, string requestHash, DateTimeOffset now, DateTimeOffset staleBefore);
    Task SaveResponseAsync(Guid clientId, string key, int statusCode, string? contentType, byte[] body);
    Task ReleaseResponseAsync(Guid clientId, string key);
    Task<int> ForgetResponsesBeforeAsync(DateTimeOffset cutoff);

    Task<IReadOnlyList<SchoolContact>> SchoolContactsAsync(string schoolUrn);

    /// <summary>The school's contact with this address, compared without regard to case.</summary>
    Task<SchoolContact?> FindSchoolContactByEmailAsync(string schoolUrn, string email);

    Task InsertSchoolContactAsync(SchoolContact contact);

    /// <summary>False when the school has no contact with that id.</summary>
    Task<bool> DeleteSchoolContactAsync(string schoolUrn, Guid id);

    /// <summary>Records the school's digest for its week; false when that week's digest is already recorded.</summary>
    Task<bool> InsertSchoolDigestAsync(SchoolDigestRecord digest);

    /// <summary>The person's enrolments on every programme, by school and their id in the school's systems.</summary>
    Task<IReadOnlyList<Guid>> FindEnrolmentIdsAsync(string schoolUrn, string externalId);

    /// <summary>Those of these xAPI statement ids that are already stored, with what they are compared by.</summary>
    Task<IReadOnlyList<StoredXapiStatement>> FindXapiStatementsAsync(IReadOnlyCollection<Guid> ids);

    /// <summary>Stores an xAPI statement; false when one with its id is already stored.</summary>
    Task<bool> InsertXapiStatementAsync(XapiStatementRecord statement);

    /// <summary>Stores xAPI statements; one whose id is already stored (or comes earlier in the list) is skipped.</summary>
    Task InsertXapiStatementsAsync(IReadOnlyList<XapiStatementRecord> statements);

    Task<int> CountWebhookSubscriptionsAsync(Guid clientId);

    Task InsertWebhookSubscriptionAsync(WebhookSubscription subscription);

    /// <summary>Deletes one of the client's subscriptions and its delivery log; false when the client has none with that id.</summary>
    Task<bool> DeleteWebhookSubscriptionAsync(Guid clientId, Guid id);

    /// <summary>No more deliveries to this subscription (its receiver answered 410 Gone); it stays listed, with the reason.</summary>
    Task DisableWebhookSubscriptionAsync(Guid id, string reason, DateTimeOffset now);

    Task RecordWebhookAttemptAsync(WebhookAttempt attempt);

    /// <summary>Sets the school's local authority; null forgets it, so the school counts under "unknown" again.</summary>
    Task SetLocalAuthorityAsync(string schoolUrn, string? localAuthority, DateTimeOffset now);

    Task CommitAsync();
}

/// <summary>A decision to save: the event that caused it (and its key), the new state, the version it was decided on, and its effects.</summary>
public sealed record DecisionWrite(
    string EventKey, WorkflowEvent Event, EnrolmentState State, long ExpectedVersion, DateTimeOffset? NextWakeAt, IReadOnlyList<Effect> Effects);

/// <summary>
/// Decisions about many enrolments, made one after another in memory: each enrolment's final state
/// (<paramref name="States"/>, once each), and every event and effect in the order they were decided.
/// </summary>
public sealed record DecisionBatch(IReadOnlyList<StateWrite> States, IReadOnlyList<AppendedEvent> Events, IReadOnlyList<(Guid? EnrolmentId, Effect Effect)> Effects)
{
    public bool IsEmpty => States.Count == 0 && Events.Count == 0 && Effects.Count == 0;
}

/// <summary>
/// An enrolment's new state, the version it was read at, and the version it becomes (one more per
/// event applied); and the status it was read with, if known, so a store can leave an unchanged
/// status (and its index entry) alone.
/// </summary>
public sealed record StateWrite(EnrolmentState State, long ExpectedVersion, long Version, DateTimeOffset? NextWakeAt, EnrolmentStatus? ReadStatus = null);

public sealed record AppendedEvent(Guid EnrolmentId, string Key, WorkflowEvent Event);

public enum SaveOutcome
{
    /// <summary>The event, the state and the effects were written together.</summary>
    Saved,

    /// <summary>An event with the same key is already stored; nothing was written.</summary>
    Duplicate,

    /// <summary>Another writer saved the enrolment first; nothing was written, and the decision must be made again.</summary>
    VersionMoved,
}

/// <summary>A new enrolment as the decider made it: its state, its first event (with the event's key) and its effects.</summary>
public sealed record NewEnrolment(EnrolmentState State, DateTimeOffset? NextWakeAt, string EventKey, WorkflowEvent Event, IReadOnlyList<Effect> Effects);

/// <summary>What decides whether a reminder decided earlier may still go; <paramref name="Started"/>: the enrolment has left <c>enrolled</c>.</summary>
public sealed record ReminderStanding(Guid EnrolmentId, bool Completed, bool Withdrawn, bool RemindersOff, bool EmailBounced, bool Started);

public sealed record StoredEnrolment(EnrolmentState State, long Version, DateTimeOffset? NextWakeAt);

public sealed record StoredProgramme(string Id, int Version, string Document, DateTimeOffset CreatedAt);

public sealed record ApiClient(Guid Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

public sealed record LiveSession(
    string Id, string ProgrammeId, string Title, DateTimeOffset StartsAt, DateTimeOffset EndsAt, string Location, int Capacity);

/// <summary>What an effect is as an outbox row, the same in every store.</summary>
public static class OutboxRows
{
    /// <summary>The kind, template and payload of an email or certificate effect (a webhook event fans out instead: <see cref="Webhook"/>).</summary>
    public static (string Kind, string Template, string Payload) Of(Effect effect)
    {
        var (kind, template) = effect switch
        {
            EmailEffect email => ("email", email.Template),
            IssueCertificate => ("certificate", "certificate"),
            _ => throw new ArgumentOutOfRangeException(nameof(effect), effect.GetType().Name, "unknown effect"),
        };
        return (kind, template, System.Text.Json.JsonSerializer.Serialize(effect, effect.GetType(), Http.JsonBody.Options));
    }

    /// <summary>The dedupe key and payload of one subscriber's delivery of a webhook event.</summary>
    public static (string DedupeKey, string Payload) Webhook(Published published, Guid subscriptionId) =>
        ($"{published.DedupeKey}:webhook:{subscriptionId:N}",
            System.Text.Json.JsonSerializer.Serialize(new WebhookMessage(subscriptionId, published), Http.JsonBody.Options));
}

public static class OutboxStatus
{
    public const string Pending = "pending";
    public const string Sent = "sent";
    public const string Dead = "dead";
    public const string Cancelled = "cancelled";
}

public sealed record OutboxItem(
    long Id,
    string DedupeKey,
    Guid? EnrolmentId,
    string Kind,
    string Template,
    string Payload,
    string Status,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt);

public static class CertificateStatus
{
    public const string Valid = "valid";
    public const string Superseded = "superseded";
    public const string Revoked = "revoked";
}

/// <summary>An issued certificate: what it says (<see cref="Details"/>, JSON), its exact bytes and their SHA-256.</summary>
public sealed record StoredCertificate(
    string Number,
    Guid EnrolmentId,
    int Version,
    string SchoolUrn,
    string Status,
    string Details,
    string Sha256,
    byte[]? Pdf,
    DateTimeOffset IssuedAt,
    DateTimeOffset? RevokedAt,
    string? RevokedReason);

/// <summary>A provider's report about one email: delivered, bounced, blocked, a spam report, …</summary>
public sealed record EmailDelivery(string EventId, Guid? EnrolmentId, string? Template, string Event, DateTimeOffset OccurredAt, string? Detail);

/// <summary>Someone at a school (a head, a SENCO) who receives the weekly digest of who is behind.</summary>
public sealed record SchoolContact(Guid Id, string SchoolUrn, string Name, string Email, DateTimeOffset CreatedAt);

/// <summary>One school's digest for one week: how many people were listed and behind, and how many emails went out.</summary>
public sealed record SchoolDigestRecord(string SchoolUrn, DateOnly WeekStart, int PeopleListed, int PeopleBehind, int Emails, DateTimeOffset CreatedAt);

/// <summary>An xAPI statement as stored: the statement's JSON and what a repeat of its id is compared by.</summary>
public sealed record XapiStatementRecord(
    Guid Id, Guid? EnrolmentId, string Verb, string ContentHash, DateTimeOffset? OccurredAt, string Statement, Guid ClientId, DateTimeOffset StoredAt);

/// <summary>What a stored xAPI statement is compared by when its id arrives again.</summary>
public sealed record StoredXapiStatement(Guid Id, string ContentHash, DateTimeOffset? OccurredAt);

/// <summary>An enrolment as the school report shows it: its state and its latest certificate's number and status, if any.</summary>
public sealed record ReportedEnrolment(EnrolmentState State, string? CertificateNumber, string? CertificateStatus);

/// <summary>
/// One local authority's figures (<paramref name="LocalAuthority"/> null: schools with none set).
/// <paramref name="ByStatus"/> is keyed by the stored status (<c>in_progress</c>); absent statuses have no entry.
/// </summary>
public sealed record AreaSummary(
    string? LocalAuthority, IReadOnlyDictionary<string, long> ByStatus, long Schools, double? MedianDaysToComplete, long NudgesSent);

/// <summary>Every local authority's figures (the counts add up to the nation's), and the national median days to complete (null: none yet).</summary>
public sealed record StoredProgressSummary(IReadOnlyList<AreaSummary> LocalAuthorities, double? MedianDaysToComplete);

public sealed record StoredResponse(string RequestHash, int? StatusCode, string? ContentType, byte[]? Body);

/// <summary>
/// An API client's webhook subscription. The secret (<c>whsec_</c> and base64) signs every delivery,
/// so it is kept as issued; the API shows it only in the answer that created it.
/// </summary>
public sealed record WebhookSubscription(
    Guid Id, Guid ClientId, string Url, IReadOnlyList<string> Events, string Secret, DateTimeOffset CreatedAt,
    DateTimeOffset? DisabledAt = null, string? DisabledReason = null);

/// <summary>What sending to a subscription needs, and why not to send (disabled, client revoked), if so.</summary>
public sealed record WebhookTarget(Guid SubscriptionId, string Url, string Secret, string? InactiveBecause);

/// <summary>The payload of a <c>webhook</c> outbox row: one event for one subscription.</summary>
public sealed record WebhookMessage(Guid SubscriptionId, Published Event);

public static class WebhookOutcome
{
    public const string Delivered = "delivered";
    public const string Retrying = "retrying";
    public const string Dead = "dead";
    public const string Disabled = "disabled";
}

/// <summary>One attempt to deliver one event to one subscription.</summary>
public sealed record WebhookAttempt(
    Guid SubscriptionId, long OutboxId, string EventType, string WebhookId, int Attempt, DateTimeOffset AttemptedAt,
    int? StatusCode, string? Error, string Outcome, DateTimeOffset? NextAttemptAt);
