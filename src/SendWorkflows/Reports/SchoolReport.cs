using SendWorkflows.Programmes;
using SendWorkflows.Schools;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Reports;

/// <summary>
/// A school's progress, one row per enrolment (a person on two programmes has two rows). The rows
/// are streamed as they are read, so a large college's report never sits whole in memory.
/// </summary>
public sealed record SchoolReport(string SchoolUrn, string? LocalAuthority, DateTimeOffset GeneratedAt, IAsyncEnumerable<SchoolReport.Person> People)
{
    /// <param name="ModulesDone">Required modules completed, of <paramref name="ModulesRequired"/>.</param>
    /// <param name="SessionAttendedAt">The first live session the person attended, if any.</param>
    /// <param name="SessionBookedFor">The start of the next live session the person is booked on, if any.</param>
    /// <param name="LastNudgeAt">When the last reminder was decided for the person (none yet: null).</param>
    /// <param name="NextNudgeAt">When the next reminder will go if nothing changes.</param>
    /// <param name="Behind">Why the person is behind, as in the weekly digest; null when they are not.</param>
    public sealed record Person(
        Guid EnrolmentId,
        string ProgrammeId,
        string ExternalId,
        string GivenName,
        string FamilyName,
        string Email,
        StaffRole Role,
        EnrolmentStatus Status,
        int ModulesDone,
        int ModulesRequired,
        DateTimeOffset? SessionAttendedAt,
        DateTimeOffset? SessionBookedFor,
        DateTimeOffset EnrolledAt,
        DateTimeOffset Deadline,
        DateTimeOffset? CompletedAt,
        DateTimeOffset? LastNudgeAt,
        DateTimeOffset? NextNudgeAt,
        bool RemindersOff,
        DateTimeOffset? EmailBouncedAt,
        BehindReason? Behind,
        string? CertificateNumber,
        string? CertificateStatus);

    public static Person Row(ReportedEnrolment enrolment, ProgrammeDefinition programme, DateTimeOffset now)
    {
        var s = enrolment.State;
        var required = programme.RequiredModules.ToList();
        var attended = s.Sessions.Values.Where(x => x.AttendedAt is not null).Select(x => x.AttendedAt).Min();
        var booked = s.Sessions.Values
            .Where(x => x is { Booked: true, AttendedAt: null, MissedReported: false } && x.StartsAt > now)
            .Select(x => x.StartsAt)
            .Min();
        var lastNudge = s.Nudges.Values.Select(n => (DateTimeOffset?)n.LastAt).Append(s.LastNudgeAt).Max();
        return new Person(s.Id, s.ProgrammeId, s.Staff.ExternalId, s.Staff.GivenName, s.Staff.FamilyName, s.Staff.Email, s.Staff.Role, s.Status,
            required.Count(m => s.ModulesCompleted.ContainsKey(m.Id)), required.Count, attended, booked, s.EnrolledAt, s.Deadline, s.CompletedAt,
            lastNudge, NudgePolicy.NextAt(s, programme, now), s.RemindersOff, s.EmailBouncedAt, WhoIsBehind.Assess(s, programme, now),
            enrolment.CertificateNumber, enrolment.CertificateStatus);
    }
}
