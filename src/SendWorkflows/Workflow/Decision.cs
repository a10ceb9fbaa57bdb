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
