using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace SendWorkflows.Workflow;

public enum EnrolmentStatus
{
    Enrolled,
    InProgress,
    AwaitingLiveSession,
    Completed,
    Lapsed,
    Withdrawn,
}

public enum StaffRole
{
    Teacher,
    TeachingAssistant,
    EarlyYearsPractitioner,
    Lecturer,
    Leader,
    SupportStaff,
}

public sealed record StaffMember(string ExternalId, string GivenName, string FamilyName, string Email, StaffRole Role);

/// <summary>
/// What is known about one person and one live session. Attendance, once recorded, stands. The
/// title and place travel with the booking so that a session reminder can name them.
/// </summary>
public sealed record LiveSessionRecord(
    bool Booked,
    DateTimeOffset? StartsAt,
    DateTimeOffset? AttendedAt,
    bool MissedReported,
    DateTimeOffset? MissedAt = null,
    string? Title = null,
    string? Location = null)
{
    [JsonIgnore]
    public bool Attended => AttendedAt is not null;
}

/// <summary>
/// Everything the decider knows about one enrolment. Progress is kept as facts (which module was
/// completed when, which session was attended when) so that the status is derived from them and
/// the same facts reach the same state whatever order they arrive in.
/// </summary>
public sealed record EnrolmentState
{
    public required Guid Id { get; init; }
    public required string ProgrammeId { get; init; }
    public required int ProgrammeVersion { get; init; }
    public required string SchoolUrn { get; init; }
    public required StaffMember Staff { get; init; }
    public required EnrolmentStatus Status { get; init; }
    public required DateTimeOffset EnrolledAt { get; init; }
    public required DateTimeOffset Deadline { get; init; }

    /// <summary>Module id to the earliest completion time reported for it.</summary>
    public ImmutableSortedDictionary<string, DateTimeOffset> ModulesCompleted { get; init; } =
        ImmutableSortedDictionary.Create<string, DateTimeOffset>(StringComparer.Ordinal);

    /// <summary>Live session id to what is known about this person and that session.</summary>
    public ImmutableSortedDictionary<string, LiveSessionRecord> Sessions { get; init; } =
        ImmutableSortedDictionary.Create<string, LiveSessionRecord>(StringComparer.Ordinal);

    public DateTimeOffset? CompletedAt { get; init; }
    public DateTimeOffset? LapsedAt { get; init; }
    public DateTimeOffset? WithdrawnAt { get; init; }

    /// <summary>The latest certificate version decided on (0: none yet). A name correction after completion issues the next.</summary>
    public int CertificateVersion { get; init; }

    /// <summary>The person turned reminder emails off on their preferences page; essential emails still go.</summary>
    public bool RemindersOff { get; init; }

    /// <summary>When the provider reported <see cref="StaffMember.Email"/> undeliverable; cleared by a new address.</summary>
    public DateTimeOffset? EmailBouncedAt { get; init; }

    /// <summary>
    /// The reminders decided so far, by series (<c>not-started</c>, <c>stalled</c>, <c>deadline:P3D</c>,
    /// <c>session-reminder:leeds</c>, …): how many, when the last was, and what the series was counted from.
    /// </summary>
    public ImmutableSortedDictionary<string, NudgeRecord> Nudges { get; init; } =
        ImmutableSortedDictionary.Create<string, NudgeRecord>(StringComparer.Ordinal);

    /// <summary>When the last non-transactional reminder was decided; the programme's <c>minGap</c> counts from it.</summary>
    public DateTimeOffset? LastNudgeAt { get; init; }

    /// <summary>Set when an admin revoked the certificate; no further versions are issued after that.</summary>
    public DateTimeOffset? CertificateRevokedAt { get; init; }
}

/// <summary>
/// One reminder series so far. <paramref name="Anchor"/> is the moment the series counts from (the
/// enrolment, the latest progress, the deadline); when it moves — new progress, an extended deadline —
/// the series starts again. <paramref name="Ever"/> counts every reminder of the series, whatever it
/// was counted from, so each one has its own key in the outbox.
/// </summary>
public sealed record NudgeRecord(int Sent, DateTimeOffset LastAt, DateTimeOffset Anchor, int Ever = 0);
