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
    CertificateSettings Certificate)
{
    public ModuleDefinition? FindModule(string moduleId) =>
        Modules.FirstOrDefault(m => string.Equals(m.Id, moduleId, StringComparison.Ordinal));

    public IEnumerable<ModuleDefinition> RequiredModules => Modules.Where(m => m.Required);
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
    QuietHours? QuietHours);

public sealed record QuietHours(string TimeZone, TimeOnly Start, TimeOnly End, bool WeekdaysOnly);

public sealed record CertificateSettings(string Title, string? Signatory, TimeSpan LinkValidity);

/// <summary>One stored version of a programme. Enrolments pin the version they started on.</summary>
public sealed record ProgrammeVersion(ProgrammeDefinition Definition, int Version, DateTimeOffset CreatedAt, string DocumentJson);
