using System.Text.Json;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Reports;

/// <summary>
/// National progress for the programme operator: England as a whole, then each local authority
/// (schools whose local authority no admin has set count under <see cref="Unknown"/>).
/// </summary>
public sealed record ProgressSummary(DateTimeOffset GeneratedAt, ProgressSummary.Figures National, IReadOnlyList<ProgressSummary.Figures> LocalAuthorities)
{
    public const string Nation = "England";
    public const string Unknown = Schools.SchoolDetailsEndpoints.UnknownArea;

    /// <summary>The reminders a person gets; welcome, completion, certificate and digest emails are not nudges.</summary>
    public static readonly IReadOnlyList<string> NudgeTemplates =
    [
        EmailTemplates.NotStarted, EmailTemplates.Stalled, EmailTemplates.BookSession, EmailTemplates.MissedSession,
        EmailTemplates.SessionReminder, EmailTemplates.Deadline, EmailTemplates.Overdue,
    ];

    /// <param name="Area"><see cref="Nation"/>, a local authority's name, or <see cref="Unknown"/>.</param>
    /// <param name="ByStatus">Every status, in the order an enrolment moves through them, zero included.</param>
    /// <param name="CompletionRate">Completed enrolments over all that were not withdrawn (0 to 1); null when there are none.</param>
    /// <param name="MedianDaysToComplete">Days from enrolment to completion, to one decimal place; null until someone completes.</param>
    /// <param name="NudgesSent">Reminder emails sent (not those still waiting, cancelled or failed).</param>
    public sealed record Figures(
        string Area,
        long Enrolments,
        long Schools,
        IReadOnlyDictionary<string, long> ByStatus,
        double? CompletionRate,
        double? MedianDaysToComplete,
        long NudgesSent);

    public static ProgressSummary From(StoredProgressSummary stored, DateTimeOffset now)
    {
        var areas = stored.LocalAuthorities
            .OrderBy(a => a.LocalAuthority is null)
            .ThenBy(a => a.LocalAuthority, StringComparer.OrdinalIgnoreCase)
            .Select(a => Figure(a.LocalAuthority ?? Unknown, a.ByStatus, a.Schools, a.MedianDaysToComplete, a.NudgesSent))
            .ToList();
        var national = Figure(Nation,
            stored.LocalAuthorities.SelectMany(a => a.ByStatus).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value)),
            stored.LocalAuthorities.Sum(a => a.Schools), stored.MedianDaysToComplete, stored.LocalAuthorities.Sum(a => a.NudgesSent));
        return new ProgressSummary(now, national, areas);
    }

    private static Figures Figure(string area, IReadOnlyDictionary<string, long> stored, long schools, double? medianDays, long nudges)
    {
        var byStatus = Enum.GetValues<EnrolmentStatus>()
            .Select(s => JsonNamingPolicy.SnakeCaseLower.ConvertName(s.ToString()))
            .ToDictionary(s => s, s => stored.GetValueOrDefault(s), StringComparer.Ordinal);
        var total = byStatus.Values.Sum();
        var notWithdrawn = total - byStatus[Name(EnrolmentStatus.Withdrawn)];
        double? rate = notWithdrawn == 0 ? null : Math.Round((double)byStatus[Name(EnrolmentStatus.Completed)] / notWithdrawn, 4);
        return new Figures(area, total, schools, byStatus, rate, medianDays is { } days ? Math.Round(days, 1) : null, nudges);
    }

    private static string Name(EnrolmentStatus status) => JsonNamingPolicy.SnakeCaseLower.ConvertName(status.ToString());
}
