using SendWorkflows.Programmes;

namespace SendWorkflows.Workflow;

/// <summary>
/// When a reminder may go out: outside the programme's quiet hours, on weekdays if it asks for
/// that, and not on a paused date (school holidays, INSET days). Local times are taken in the
/// programme's time zone, so 08:00 stays 08:00 across the March and October clock changes.
/// </summary>
public static class DeliveryWindow
{
    /// <summary>Enough for a long run of pauses, weekends and quiet hours; the search always moves forward.</summary>
    private const int MaxSteps = 2_000;

    /// <summary>
    /// The earliest moment at or after <paramref name="at"/> when the reminder may be sent.
    /// Transactional messages (a session reminder) respect quiet hours only: weekends and
    /// holidays do not stop a reminder for a session that is about to happen.
    /// </summary>
    public static DateTimeOffset NextOpening(DateTimeOffset at, NudgeSettings nudges, bool transactional)
    {
        var quiet = nudges.QuietHours;
        if (quiet is null && (transactional || nudges.Pauses.Count == 0))
        {
            return at;
        }

        var zone = nudges.Zone;
        var t = at;
        for (var step = 0; step < MaxSteps; step++)
        {
            var local = TimeZoneInfo.ConvertTime(t, zone).DateTime;
            var date = DateOnly.FromDateTime(local);
            var time = TimeOnly.FromDateTime(local);
            if (!transactional)
            {
                if (PauseOn(nudges.Pauses, date) is { } pause)
                {
                    t = Later(t, StartOfDay(pause.To.AddDays(1), quiet, zone));
                    continue;
                }

                if (quiet is { WeekdaysOnly: true } && date.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday)
                {
                    var monday = date.AddDays(date.DayOfWeek == DayOfWeek.Saturday ? 2 : 1);
                    t = Later(t, StartOfDay(monday, quiet, zone));
                    continue;
                }
            }

            if (quiet is not null && IsQuiet(time, quiet))
            {
                // Quiet hours that cross midnight (18:00–08:00) end the next morning when they began in the evening.
                var endDate = quiet.Start > quiet.End && time >= quiet.Start ? date.AddDays(1) : date;
                t = Later(t, Local(endDate, quiet.End, zone));
                continue;
            }

            return t;
        }

        return t;
    }

    private static bool IsQuiet(TimeOnly time, QuietHours quiet) =>
        quiet.Start < quiet.End
            ? time >= quiet.Start && time < quiet.End
            : time >= quiet.Start || time < quiet.End;

    /// <summary>The first moment of a day on which messages may go: the end of overnight quiet hours, or midnight.</summary>
    private static DateTimeOffset StartOfDay(DateOnly date, QuietHours? quiet, TimeZoneInfo zone) =>
        Local(date, quiet is not null && quiet.Start > quiet.End ? quiet.End : TimeOnly.MinValue, zone);

    /// <summary>
    /// A local wall-clock time as an instant. A time the clocks skip (01:30 on the March change)
    /// becomes the first valid moment after it; a time that happens twice (01:30 in October) is
    /// taken at its first occurrence.
    /// </summary>
    private static DateTimeOffset Local(DateOnly date, TimeOnly time, TimeZoneInfo zone)
    {
        var local = date.ToDateTime(time, DateTimeKind.Unspecified);
        var guard = 0;
        while (zone.IsInvalidTime(local) && guard++ < 4 * 24)
        {
            local = local.AddMinutes(15);
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    private static DateTimeOffset Later(DateTimeOffset current, DateTimeOffset candidate) =>
        candidate > current ? candidate : current.AddMinutes(1);

    /// <summary>The pause the date falls in, if any (a loop, not a query: this runs for every decision).</summary>
    private static NudgePause? PauseOn(IReadOnlyList<NudgePause> pauses, DateOnly date)
    {
        for (var i = 0; i < pauses.Count; i++)
        {
            if (pauses[i].From <= date && date <= pauses[i].To)
            {
                return pauses[i];
            }
        }

        return null;
    }
}
