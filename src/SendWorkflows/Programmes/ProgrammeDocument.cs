using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using SendWorkflows.Http;

namespace SendWorkflows.Programmes;

/// <summary>
/// The JSON programme document of DESIGN §5 as it arrives over the wire, and its validation into a
/// <see cref="ProgrammeDefinition"/>. Unknown properties are rejected so a misspelt setting
/// (<c>stalledAftr</c>) is reported instead of silently ignored.
/// </summary>
public sealed partial class ProgrammeDocument
{
    public string? Id { get; set; }
    public string? Title { get; set; }
    public string? Issuer { get; set; }
    public List<ModuleDocument?>? Modules { get; set; }
    public int? LiveSessionsRequired { get; set; }
    public string? CompletionWindow { get; set; }
    public NudgesDocument? Nudges { get; set; }
    public CertificateDocument? Certificate { get; set; }

    /// <summary>Where people study the online modules; reminders link to it. Without it they link to the person's own progress page.</summary>
    public string? LearningUrl { get; set; }

    /// <summary>Where people book a live session; session reminders link to it.</summary>
    public string? BookingUrl { get; set; }

    public sealed class ModuleDocument
    {
        public string? Id { get; set; }
        public string? Title { get; set; }
        public int? CpdMinutes { get; set; }
        public bool? Required { get; set; }
        public List<string?>? ActivityIds { get; set; }
    }

    public sealed class NudgesDocument
    {
        public string? NotStartedAfter { get; set; }
        public string? StalledAfter { get; set; }
        public string? RepeatEvery { get; set; }
        public int? MaxRepeats { get; set; }
        public string? BookSessionAfter { get; set; }
        public string? SessionReminderBefore { get; set; }
        public List<string?>? DeadlineReminders { get; set; }
        public string? MinGap { get; set; }
        public QuietHoursDocument? QuietHours { get; set; }
        public List<PauseDocument?>? Pauses { get; set; }
    }

    public sealed class PauseDocument
    {
        public string? From { get; set; }
        public string? To { get; set; }
        public string? Name { get; set; }
    }

    public sealed class QuietHoursDocument
    {
        public string? TimeZone { get; set; }
        public string? Start { get; set; }
        public string? End { get; set; }
        public bool? WeekdaysOnly { get; set; }
    }

    public sealed class CertificateDocument
    {
        public string? Title { get; set; }
        public string? Signatory { get; set; }
        public string? LinkValidity { get; set; }
    }

    public static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z", RegexOptions.CultureInvariant)]
    public static partial Regex IdPattern();

    /// <summary>No duration in a programme, and no deadline, reaches further than this.</summary>
    public static readonly TimeSpan LongestDuration = TimeSpan.FromDays(3660);

    private const int MaxModules = 100;
    private const int MaxDeadlineReminders = 10;
    private const int MaxPauses = 200;
    private static readonly TimeSpan MaxSessionReminderBefore = TimeSpan.FromDays(30);
    private static readonly TimeSpan MaxMinGap = TimeSpan.FromDays(60);
    private const int MaxTextLength = 200;

    /// <summary>Validates the document; <paramref name="routeId"/> is the id in the URL, which the body must match.</summary>
    /// <param name="sensibleReminders">
    /// Also refuse reminder settings that are well formed but can never be useful (an offset as long as
    /// the window, a 90-day session reminder). On for a new version; off when loading a stored one, so
    /// a version accepted by an earlier release keeps working (the decider simply never sends what can
    /// never come round).
    /// </param>
    public ProgrammeDefinition? Validate(string routeId, FieldErrors errors, bool sensibleReminders = true)
    {
        if (Id is null)
        {
            Id = routeId;
        }
        else if (!string.Equals(Id, routeId, StringComparison.Ordinal))
        {
            errors.Add("id", $"must match the programme id in the URL ('{routeId}').");
        }

        if (!IdPattern().IsMatch(routeId))
        {
            errors.Add("id", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }

        RequireText(Title, "title", errors);
        RequireText(Issuer, "issuer", errors);

        var modules = new List<ModuleDefinition>();
        if (Modules is null || Modules.Count == 0)
        {
            errors.Add("modules", "is required and must list at least one module.");
        }
        else if (Modules.Count > MaxModules)
        {
            errors.Add("modules", $"may list at most {MaxModules} modules.");
        }
        else
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var seenActivities = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Modules.Count; i++)
            {
                var field = $"modules[{i}]";
                var module = Modules[i];
                if (module is null)
                {
                    errors.Add(field, "must be an object.");
                    continue;
                }

                if (string.IsNullOrWhiteSpace(module.Id))
                {
                    errors.Add($"{field}.id", "is required.");
                }
                else if (!IdPattern().IsMatch(module.Id))
                {
                    errors.Add($"{field}.id", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
                }
                else if (!seen.Add(module.Id))
                {
                    errors.Add($"{field}.id", $"'{module.Id}' is used by more than one module.");
                }

                RequireText(module.Title, $"{field}.title", errors);
                if (module.CpdMinutes is < 0 or > 10_000)
                {
                    errors.Add($"{field}.cpdMinutes", "must be between 0 and 10000.");
                }

                var activityIds = new List<string>();
                for (var a = 0; a < (module.ActivityIds?.Count ?? 0); a++)
                {
                    var activity = module.ActivityIds![a];
                    if (activity is null || !Uri.TryCreate(activity, UriKind.Absolute, out _))
                    {
                        errors.Add($"{field}.activityIds[{a}]", "must be an absolute IRI.");
                    }
                    else if (!seenActivities.Add(activity))
                    {
                        errors.Add($"{field}.activityIds[{a}]", $"'{activity}' is used more than once.");
                    }
                    else
                    {
                        activityIds.Add(activity);
                    }
                }

                modules.Add(new ModuleDefinition(module.Id ?? "", module.Title?.Trim() ?? "", module.CpdMinutes ?? 0,
                    module.Required ?? true, activityIds));
            }

            if (Modules.All(m => m is not null) && !modules.Any(m => m.Required))
            {
                errors.Add("modules", "must include at least one required module.");
            }
        }

        if (LiveSessionsRequired is < 0 or > 20)
        {
            errors.Add("liveSessionsRequired", "must be between 0 and 20.");
        }

        var window = RequireDuration(CompletionWindow, "completionWindow", errors, required: true);

        var nudges = Nudges is null ? null : ValidateNudges(Nudges, sensibleReminders ? window : null, sensibleReminders, errors);
        var certificate = ValidateCertificate(Certificate, errors);
        var learningUrl = ValidateLink(LearningUrl, "learningUrl", errors);
        var bookingUrl = ValidateLink(BookingUrl, "bookingUrl", errors);

        if (errors.Any)
        {
            return null;
        }

        return new ProgrammeDefinition(routeId, Title!.Trim(), Issuer!.Trim(), modules, LiveSessionsRequired ?? 0,
            window!.Value, nudges, certificate!, learningUrl, bookingUrl);
    }

    private static string? ValidateLink(string? value, string field, FieldErrors errors)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length > 2000 || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add(field, "must be an absolute https:// link of at most 2000 characters.");
            return null;
        }

        return uri.AbsoluteUri;
    }

    private static NudgeSettings? ValidateNudges(NudgesDocument n, TimeSpan? window, bool sensible, FieldErrors errors)
    {
        var reminders = new List<TimeSpan>();
        if (sensible && n.DeadlineReminders is { Count: > MaxDeadlineReminders })
        {
            errors.Add("nudges.deadlineReminders", $"may list at most {MaxDeadlineReminders} reminders.");
        }

        for (var i = 0; i < Math.Min(n.DeadlineReminders?.Count ?? 0, sensible ? MaxDeadlineReminders : int.MaxValue); i++)
        {
            var field = $"nudges.deadlineReminders[{i}]";
            var d = RequireDuration(n.DeadlineReminders![i], field, errors, required: true);
            if (d is not { } value)
            {
                continue;
            }

            if (window is { } w && value >= w)
            {
                errors.Add(field, $"must be shorter than completionWindow ({n.DeadlineReminders[i]} before the deadline is before the enrolment starts).");
            }
            else if (reminders.Contains(value))
            {
                if (sensible)
                {
                    errors.Add(field, "repeats another deadline reminder.");
                }
            }
            else
            {
                reminders.Add(value);
            }
        }

        // Offsets measured from enrolment or progress that can never come round before the deadline are mistakes, not settings.
        var notStarted = ShorterThanWindow(RequireDuration(n.NotStartedAfter, "nudges.notStartedAfter", errors), window, "nudges.notStartedAfter", errors);
        var stalled = ShorterThanWindow(RequireDuration(n.StalledAfter, "nudges.stalledAfter", errors), window, "nudges.stalledAfter", errors);
        var bookSession = ShorterThanWindow(RequireDuration(n.BookSessionAfter, "nudges.bookSessionAfter", errors), window, "nudges.bookSessionAfter", errors);
        var repeatEvery = ShorterThanWindow(RequireDuration(n.RepeatEvery, "nudges.repeatEvery", errors), window, "nudges.repeatEvery", errors);
        var sessionReminder = RequireDuration(n.SessionReminderBefore, "nudges.sessionReminderBefore", errors);
        if (sensible && sessionReminder > MaxSessionReminderBefore)
        {
            errors.Add("nudges.sessionReminderBefore", "must be at most 30 days (P30D).");
        }

        var minGap = RequireDuration(n.MinGap, "nudges.minGap", errors);
        if (sensible && minGap > MaxMinGap)
        {
            errors.Add("nudges.minGap", "must be at most 60 days (P60D); longer gaps would silence reminders for most of a programme.");
        }

        if (sensible && n.MaxRepeats is > 0 && n.RepeatEvery is null)
        {
            errors.Add("nudges.repeatEvery", "is required when maxRepeats is more than zero.");
        }

        var pauses = ValidatePauses(n.Pauses, errors);

        if (n.MaxRepeats is < 0 or > 100)
        {
            errors.Add("nudges.maxRepeats", "must be between 0 and 100.");
        }

        QuietHours? quiet = null;
        if (n.QuietHours is { } q)
        {
            if (string.IsNullOrWhiteSpace(q.TimeZone))
            {
                errors.Add("nudges.quietHours.timeZone", "is required (an IANA time zone such as Europe/London).");
            }
            else if (!TimeZoneInfo.TryFindSystemTimeZoneById(q.TimeZone, out _))
            {
                errors.Add("nudges.quietHours.timeZone", $"'{q.TimeZone}' is not a known IANA time zone.");
            }

            var start = RequireTime(q.Start, "nudges.quietHours.start", errors);
            var end = RequireTime(q.End, "nudges.quietHours.end", errors);
            if (start is not null && end is not null && start == end)
            {
                errors.Add("nudges.quietHours.end", "must differ from start.");
            }

            quiet = new QuietHours(q.TimeZone ?? "", start ?? default, end ?? default, q.WeekdaysOnly ?? false);
        }

        if (errors.Any)
        {
            return null; // the time zone may be unknown: nothing below may be built from unchecked values
        }

        return new NudgeSettings(notStarted, stalled, repeatEvery, n.MaxRepeats ?? 0, bookSession, sessionReminder,
            reminders.OrderDescending().ToList(), minGap, quiet, pauses);
    }

    private static TimeSpan? ShorterThanWindow(TimeSpan? value, TimeSpan? window, string field, FieldErrors errors)
    {
        if (value is { } v && window is { } w && v >= w)
        {
            errors.Add(field, "must be shorter than completionWindow, or it could never come round before the deadline.");
        }

        return value;
    }

    private static List<NudgePause> ValidatePauses(List<PauseDocument?>? pauses, FieldErrors errors)
    {
        var result = new List<NudgePause>();
        if (pauses is null)
        {
            return result;
        }

        if (pauses.Count > MaxPauses)
        {
            errors.Add("nudges.pauses", $"may list at most {MaxPauses} paused periods.");
            return result;
        }

        for (var i = 0; i < pauses.Count; i++)
        {
            var field = $"nudges.pauses[{i}]";
            if (pauses[i] is not { } p)
            {
                errors.Add(field, "must be an object with from, to and name.");
                continue;
            }

            var from = RequireDate(p.From, $"{field}.from", errors);
            var to = RequireDate(p.To, $"{field}.to", errors);
            if (from is { } f && to is { } t)
            {
                if (t < f)
                {
                    errors.Add($"{field}.to", "must be on or after from.");
                }
                else if (t.DayNumber - f.DayNumber > 365)
                {
                    errors.Add($"{field}.to", "a paused period may last at most a year.");
                }
            }

            RequireText(p.Name, $"{field}.name", errors);
            if (from is { } a && to is { } b && b >= a)
            {
                result.Add(new NudgePause(a, b, p.Name?.Trim() ?? ""));
            }
        }

        return result;
    }

    private static DateOnly? RequireDate(string? value, string field, FieldErrors errors)
    {
        if (value is not null && DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            return date;
        }

        errors.Add(field, "must be a date as YYYY-MM-DD, such as 2026-12-21.");
        return null;
    }

    private static CertificateSettings? ValidateCertificate(CertificateDocument? c, FieldErrors errors)
    {
        if (c?.Title is { Length: > MaxTextLength })
        {
            errors.Add("certificate.title", $"must be at most {MaxTextLength} characters.");
        }

        if (c?.Signatory is { Length: > MaxTextLength })
        {
            errors.Add("certificate.signatory", $"must be at most {MaxTextLength} characters.");
        }

        var validity = RequireDuration(c?.LinkValidity, "certificate.linkValidity", errors) ?? TimeSpan.FromDays(30);
        return new CertificateSettings(
            string.IsNullOrWhiteSpace(c?.Title) ? "Certificate of completion" : c.Title.Trim(),
            string.IsNullOrWhiteSpace(c?.Signatory) ? null : c.Signatory.Trim(),
            validity);
    }

    private static void RequireText(string? value, string field, FieldErrors errors)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(field, "is required.");
        }
        else if (value.Length > MaxTextLength)
        {
            errors.Add(field, $"must be at most {MaxTextLength} characters.");
        }
    }

    private static TimeSpan? RequireDuration(string? value, string field, FieldErrors errors, bool required = false)
    {
        if (value is null)
        {
            if (required)
            {
                errors.Add(field, "is required (an ISO 8601 duration such as P182D).");
            }

            return null;
        }

        if (!IsoDuration.TryParse(value, out var duration, out var error))
        {
            errors.Add(field, error!);
            return null;
        }

        if (duration <= TimeSpan.Zero)
        {
            errors.Add(field, "must be longer than zero.");
            return null;
        }

        if (duration > LongestDuration)
        {
            errors.Add(field, "must be at most ten years (P3660D).");
            return null;
        }

        return duration;
    }

    private static TimeOnly? RequireTime(string? value, string field, FieldErrors errors)
    {
        if (value is not null && TimeOnly.TryParseExact(value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return time;
        }

        errors.Add(field, "must be a time of day as HH:mm, such as 18:00.");
        return null;
    }
}
