using SendWorkflows.Certificates;
using SendWorkflows.Programmes;
using SendWorkflows.Workflow;

namespace SendWorkflows.Schools;

/// <summary>Why a person is behind, most serious first: a person is listed once, for the first that applies.</summary>
public enum BehindReason
{
    DeadlinePassed,
    EmailUndeliverable,
    NotStarted,
    Stalled,
    NoLiveSessionBooked,
    DeadlineSoon,
}

/// <summary>
/// Decides, from an enrolment's state, its programme and the time, whether the person is behind and
/// why, in words a school lead can act on. Pure: no I/O and no clock of its own.
/// </summary>
public static class WhoIsBehind
{
    /// <summary>A deadline this close, with the training unfinished, is worth a lead's attention whatever else is true.</summary>
    public static readonly TimeSpan DeadlineSoonWithin = TimeSpan.FromDays(14);

    public static BehindReason? Assess(EnrolmentState s, ProgrammeDefinition programme, DateTimeOffset now)
    {
        if (s.Status is EnrolmentStatus.Completed or EnrolmentStatus.Withdrawn || s.CompletedAt is not null || s.WithdrawnAt is not null)
        {
            return null;
        }

        // The sweep lapses an enrolment at its deadline; the digest may run before it gets there.
        if (s.Status == EnrolmentStatus.Lapsed || now >= s.Deadline)
        {
            return BehindReason.DeadlinePassed;
        }

        if (s.EmailBouncedAt is not null)
        {
            return BehindReason.EmailUndeliverable;
        }

        var nudges = programme.Nudges;
        if (s.Status == EnrolmentStatus.Enrolled && nudges?.NotStartedAfter is { } notStartedAfter && now - s.EnrolledAt >= notStartedAfter)
        {
            return BehindReason.NotStarted;
        }

        if (s.Status == EnrolmentStatus.InProgress && nudges?.StalledAfter is { } stalledAfter && now - LastProgress(s) >= stalledAfter)
        {
            return BehindReason.Stalled;
        }

        if (s.Status == EnrolmentStatus.AwaitingLiveSession && nudges?.BookSessionAfter is { } bookAfter &&
            !HasSessionAhead(s, now) && now - OnlineModulesDoneAt(s, programme) >= bookAfter)
        {
            return BehindReason.NoLiveSessionBooked;
        }

        return s.Deadline - now <= DeadlineSoonWithin ? BehindReason.DeadlineSoon : null;
    }

    /// <summary>The reason in plain English, with its dates in the digest's time zone.</summary>
    public static string Describe(BehindReason reason, EnrolmentState s, ProgrammeDefinition programme, TimeZoneInfo zone) => reason switch
    {
        BehindReason.DeadlinePassed => "The deadline passed before they finished.",
        BehindReason.EmailUndeliverable =>
            "Our emails to them cannot be delivered. Please check the email address your school gave us for them.",
        BehindReason.NotStarted => $"Has not started since being enrolled on {Date(s.EnrolledAt, zone)}.",
        BehindReason.Stalled => $"No progress since {Date(LastProgress(s), zone)}.",
        BehindReason.NoLiveSessionBooked =>
            $"Finished the online modules on {Date(OnlineModulesDoneAt(s, programme), zone)} but has no live session booked.",
        BehindReason.DeadlineSoon => "Not finished yet, and the deadline is less than two weeks away.",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "unknown reason"),
    };

    public static string Date(DateTimeOffset at, TimeZoneInfo zone) => CertificateIssuer.LongDate(at, zone);

    /// <summary>The latest module completion or session attended; enrolment if there is neither.</summary>
    private static DateTimeOffset LastProgress(EnrolmentState s) =>
        s.ModulesCompleted.Values
            .Concat(s.Sessions.Values.Where(x => x.AttendedAt is not null).Select(x => x.AttendedAt!.Value))
            .Append(s.EnrolledAt)
            .Max();

    private static DateTimeOffset OnlineModulesDoneAt(EnrolmentState s, ProgrammeDefinition programme) =>
        programme.RequiredModules
            .Select(m => s.ModulesCompleted.TryGetValue(m.Id, out var at) ? at : s.EnrolledAt)
            .Append(s.EnrolledAt)
            .Max();

    /// <summary>A booking not yet attended or reported missed, and not long past: the person has a session to go to.</summary>
    private static bool HasSessionAhead(EnrolmentState s, DateTimeOffset now) =>
        NudgePolicy.BookingPendingUntil(s) is { } until && until > now;
}
