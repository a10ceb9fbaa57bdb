namespace SendWorkflows.Workflow;

/// <summary>
/// What the decider concluded from one event: the new state, the effects to write to the outbox
/// in the same transaction, and when the enrolment next needs attention.
/// </summary>
public sealed record Decision(
    EnrolmentState State,
    IReadOnlyList<Effect> Effects,
    DateTimeOffset? NextWakeAt,
    bool Changed,
    Rejection? Rejection = null)
{
    public bool Rejected => Rejection is not null;
}

public enum RejectionKind
{
    /// <summary>The event refers to something the programme does not have, or asks for something impossible.</summary>
    Invalid,

    /// <summary>The event is well formed but the enrolment's state does not allow it (withdrawn, completed).</summary>
    Conflict,
}

public sealed record Rejection(RejectionKind Kind, string Field, string Message);

public sealed record EmailRecipient(string Email, string Name);

/// <summary>Something to do once the decision is committed, carried out of the outbox with retries.</summary>
public abstract record Effect(string DedupeKey);

/// <summary>
/// An email to send. The model is a snapshot taken when the decision was made, so the message
/// rendered by the dispatcher — perhaps after a restart — says what was true at that moment.
/// <paramref name="Rows"/> carries a list for templates that show one (<c>{{#each rows}}</c>), such as a school digest.
/// </summary>
public sealed record EmailEffect(
    string Template,
    string DedupeKey,
    EmailRecipient To,
    IReadOnlyDictionary<string, string> Model,
    IReadOnlyList<IReadOnlyDictionary<string, string>>? Rows = null) : Effect(DedupeKey);

/// <summary>
/// Issue version <paramref name="Version"/> of the enrolment's certificate: number it, render it,
/// store it and email the person a link. Version 1 on completion; a name correction issues the next.
/// </summary>
public sealed record IssueCertificate(Guid EnrolmentId, int Version)
    : Effect($"{EnrolmentId:N}:certificate:{Version}");

/// <summary>
/// Something that happened to an enrolment which API clients may subscribe to (a webhook). The
/// decider does not know who subscribes: in the same transaction as the decision, the store turns
/// it into one outbox row per matching subscription, each sent and retried on its own.
/// <paramref name="DedupeKey"/> is the event's identity: the same event decided twice is published once,
/// and every subscriber sees the same <c>webhook-id</c> for it.
/// </summary>
public sealed record Published(string Type, string DedupeKey, DateTimeOffset Timestamp, PublishedEnrolment Data) : Effect(DedupeKey)
{
    public static Published Completed(EnrolmentState state, DateTimeOffset now) =>
        new(PublishedEvents.EnrolmentCompleted, $"{state.Id:N}:{PublishedEvents.EnrolmentCompleted}", now, PublishedEnrolment.Of(state));

    public static Published Lapsed(EnrolmentState state, DateTimeOffset now) =>
        new(PublishedEvents.EnrolmentLapsed, $"{state.Id:N}:{PublishedEvents.EnrolmentLapsed}:{(state.LapsedAt ?? now).ToUnixTimeMilliseconds()}",
            now, PublishedEnrolment.Of(state));

    public static Published CertificateIssued(EnrolmentState state, int version, string number, string verifyUrl, DateTimeOffset now) =>
        new(PublishedEvents.CertificateIssued, $"{state.Id:N}:{PublishedEvents.CertificateIssued}:{version}", now,
            PublishedEnrolment.Of(state) with { Certificate = new PublishedCertificate(number, verifyUrl) });
}

/// <summary>What a webhook says about the enrolment: identifiers and status, never a name or an email address.</summary>
public sealed record PublishedEnrolment(
    Guid EnrolmentId,
    string ProgrammeId,
    string SchoolUrn,
    string ExternalId,
    EnrolmentStatus Status,
    DateTimeOffset? CompletedAt = null,
    PublishedCertificate? Certificate = null)
{
    public static PublishedEnrolment Of(EnrolmentState s) => new(s.Id, s.ProgrammeId, s.SchoolUrn, s.Staff.ExternalId, s.Status, s.CompletedAt);
}

public sealed record PublishedCertificate(string Number, string VerifyUrl);

/// <summary>The event types an API client may subscribe to.</summary>
public static class PublishedEvents
{
    public const string EnrolmentCompleted = "enrolment.completed";
    public const string CertificateIssued = "certificate.issued";
    public const string EnrolmentLapsed = "enrolment.lapsed";

    public static readonly IReadOnlyList<string> All = [EnrolmentCompleted, CertificateIssued, EnrolmentLapsed];
}

/// <summary>The names of the email templates the workflow sends; they travel in <c>X-SendWorkflows-Template</c>.</summary>
public static class EmailTemplates
{
    public const string Welcome = "welcome";
    public const string Completion = "completion";
    public const string Certificate = "certificate";
    public const string NotStarted = "not-started";
    public const string Stalled = "stalled";
    public const string BookSession = "book-session";
    public const string MissedSession = "missed-session";
    public const string Deadline = "deadline";
    public const string Overdue = "overdue";
    public const string SessionReminder = "session-reminder";

    /// <summary>
    /// Reminders a person may turn off: they carry an unsubscribe link and <c>List-Unsubscribe</c>
    /// headers. Welcome, completion, certificate and session reminders are transactional and always go.
    /// </summary>
    public static bool IsNonEssential(string template) =>
        template is NotStarted or Stalled or BookSession or MissedSession or Deadline or Overdue;
}
