using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Enrolments;

/// <summary>An enrolment as the API shows it (<c>GET /api/v1/enrolments/{id}</c> and every change that returns it).</summary>
public sealed record EnrolmentView(
    Guid Id,
    string ProgrammeId,
    int ProgrammeVersion,
    string SchoolUrn,
    StaffMember Staff,
    EnrolmentStatus Status,
    DateTimeOffset EnrolledAt,
    DateTimeOffset Deadline,
    DateTimeOffset? NextNudgeAt,
    bool RemindersOff,
    DateTimeOffset? EmailBouncedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? LapsedAt,
    DateTimeOffset? WithdrawnAt,
    IReadOnlyList<EnrolmentView.ModuleProgress> Modules,
    int LiveSessionsRequired,
    IReadOnlyList<EnrolmentView.SessionProgress> Sessions,
    string StatusUrl,
    EnrolmentView.CertificateLinks? Certificate,
    IReadOnlyList<EnrolmentView.EmailEvent>? Emails = null)
{
    /// <summary>What the email provider reported about this person's emails (shown on the status, not on every change).</summary>
    public sealed record EmailEvent(string? Template, string Event, DateTimeOffset At, string? Detail);

    /// <summary>Once issued: the number, its status, a freshly signed download link (while valid) and the verification page.</summary>
    public sealed record CertificateLinks(string Number, string Status, string? DownloadUrl, string VerifyUrl, DateTimeOffset IssuedAt);

    public sealed record ModuleProgress(string Id, string Title, bool Required, int CpdMinutes, DateTimeOffset? CompletedAt);

    /// <summary><c>status</c> is <c>booked</c>, <c>cancelled</c>, <c>attended</c> or <c>missed</c>.</summary>
    public sealed record SessionProgress(string SessionId, string Status, DateTimeOffset? StartsAt, DateTimeOffset? AttendedAt);

    /// <param name="now">The moment of the answer: <c>nextNudgeAt</c> is when the next reminder goes if nothing changes before then.</param>
    public static EnrolmentView From(StoredEnrolment stored, ProgrammeVersion programme, string statusUrl, CertificateLinks? certificate, DateTimeOffset now)
    {
        var s = stored.State;
        var modules = programme.Definition.Modules
            .Select(m => new ModuleProgress(m.Id, m.Title, m.Required, m.CpdMinutes,
                s.ModulesCompleted.TryGetValue(m.Id, out var at) ? at : null))
            .ToList();
        var sessions = s.Sessions
            .Select(kv => new SessionProgress(kv.Key, SessionStatus(kv.Value), kv.Value.StartsAt, kv.Value.AttendedAt))
            .ToList();
        return new EnrolmentView(s.Id, s.ProgrammeId, s.ProgrammeVersion, s.SchoolUrn, s.Staff, s.Status, s.EnrolledAt, s.Deadline,
            NudgePolicy.NextAt(s, programme.Definition, now), s.RemindersOff, s.EmailBouncedAt, s.CompletedAt, s.LapsedAt, s.WithdrawnAt, modules, programme.Definition.LiveSessionsRequired, sessions, statusUrl, certificate);
    }

    private static string SessionStatus(LiveSessionRecord r) =>
        r.Attended ? "attended" : r.MissedReported ? "missed" : r.Booked ? "booked" : "cancelled";
}
