namespace SendWorkflows.Programmes;

/// <summary>A validated programme: what a person must do, by when, and how they are reminded.</summary>
public sealed record ProgrammeDefinition(
    string Id,
    string Title,
    string Issuer,
    IReadOnlyList<ModuleDefinition> Modules,
    int LiveSessionsRequired,
    TimeSpan CompletionWindow,
    NudgeSettings? Nudges,
    CertificateSettings Certificate,
    string? LearningUrl = null,
    string? BookingUrl = null)
{
    public ModuleDefinition? FindModule(string moduleId) =>
        Modules.FirstOrDefault(m => string.Equals(m.Id, moduleId, StringComparison.Ordinal));

    public IEnumerable<ModuleDefinition> RequiredModules => Modules.Where(m => m.Required);

    /// <summary>The programme's local time zone: dates on certificates and in emails, quiet hours and pauses.</summary>
    public TimeZoneInfo Zone => Nudges?.Zone ?? TimeZoneInfo.FindSystemTimeZoneById(NudgeSettings.DefaultTimeZone);
}

public sealed record ModuleDefinition(string Id, string Title, int CpdMinutes, bool Required, IReadOnlyList<string> ActivityIds);

public sealed record NudgeSettings(
    TimeSpan? NotStartedAfter,
    TimeSpan? StalledAfter,
    TimeSpan? RepeatEvery,
    int MaxRepeats,
    TimeSpan? BookSessionAfter,
    TimeSpan? SessionReminderBefore,
    IReadOnlyList<TimeSpan> DeadlineReminders,
    TimeSpan? MinGap,
    QuietHours? QuietHours,
    IReadOnlyList<NudgePause> Pauses)
{
    /// <summary>The programme's local time zone when it does not name one: the programme serves England.</summary>
    public const string DefaultTimeZone = "Europe/London";

    /// <summary>Where quiet hours, weekdays and paused dates are judged, and session times are written in emails.</summary>
    public TimeZoneInfo Zone { get; } = TimeZoneInfo.FindSystemTimeZoneById(QuietHours?.TimeZone ?? DefaultTimeZone);
}

public sealed record QuietHours(string TimeZone, TimeOnly Start, TimeOnly End, bool WeekdaysOnly);

/// <summary>Dates (inclusive, local to the programme) on which non-transactional reminders wait: holidays, INSET days.</summary>
public sealed record NudgePause(DateOnly From, DateOnly To, string Name);

public sealed record CertificateSettings(string Title, string? Signatory, TimeSpan LinkValidity);

/// <summary>One stored version of a programme. Enrolments pin the version they started on.</summary>
public sealed record ProgrammeVersion(ProgrammeDefinition Definition, int Version, DateTimeOffset CreatedAt, string DocumentJson);
