using SendWorkflows.Programmes;

namespace SendWorkflows.Workflow;

/// <summary>A reminder that the programme's rules call for, and the earliest moment it may be sent.</summary>
public sealed record NudgeCandidate(
    string Series,
    string Template,
    DateTimeOffset Anchor,
    DateTimeOffset DueAt,
    DateTimeOffset SendAt,
    int Priority,
    bool Transactional,
    string? SessionId = null);

/// <summary>
/// The reminder rules of the programme's <c>nudges</c> block, as pure functions of the enrolment's
/// state. Reminders are only ever decided when the enrolment's timer fires, so the state after any
/// progress event depends on the facts alone, not on when reminders happened to be due.
/// <list type="bullet">
/// <item><c>not-started</c>: <c>notStartedAfter</c> after enrolment with no progress.</item>
/// <item><c>stalled</c>: <c>stalledAfter</c> after the latest progress, while modules remain.</item>
/// <item><c>book-session</c>: <c>bookSessionAfter</c> after the online modules are done, with no live session booked.</item>
/// <item><c>missed-session</c>: after a no-show, once, asking the person to book again.</item>
/// <item><c>deadline</c>: at each offset before the deadline; a nearer one due at the same time replaces a farther one.</item>
/// <item><c>overdue</c>: every <c>repeatEvery</c> after the deadline has passed, up to <c>maxRepeats</c>; then the lapsed enrolment is closed.</item>
/// <item><c>session-reminder</c> (transactional): <c>sessionReminderBefore</c> a booked session.</item>
/// </list>
/// The first three repeat every <c>repeatEvery</c>, up to <c>maxRepeats</c> repeats after the first.
/// Non-transactional reminders keep <c>minGap</c> between them, and wait out quiet hours, weekends
/// (when <c>weekdaysOnly</c>) and paused dates. When several are due at once only the most urgent is
/// sent; the others count as sent, so a person never gets two reminders in one go.
/// </summary>
public static class NudgePolicy
{
    public static IReadOnlyList<NudgeCandidate> Candidates(EnrolmentState s, ProgrammeDefinition programme, DateTimeOffset now)
    {
        var n = programme.Nudges;
        // Never to someone who has finished or left, or whose address is known not to work.
        if (n is null || s.CompletedAt is not null || s.WithdrawnAt is not null || s.EmailBouncedAt is not null)
        {
            return [];
        }

        var list = new List<NudgeCandidate>();
        if (n.SessionReminderBefore is { } before && s.LapsedAt is null)
        {
            foreach (var (id, session) in s.Sessions)
            {
                if (session is not { Booked: true, AttendedAt: null, MissedReported: false, StartsAt: { } startsAt } || startsAt <= now)
                {
                    continue;
                }

                var series = $"{EmailTemplates.SessionReminder}:{id}";
                if (Record(s, series, startsAt) is not null)
                {
                    continue;
                }

                var due = startsAt - before;
                var sendAt = DeliveryWindow.NextOpening(due, n, transactional: true);
                // Quiet hours that would hold a reminder until after the session give way: a late-evening reminder beats none.
                list.Add(new NudgeCandidate(series, EmailTemplates.SessionReminder, startsAt, due, sendAt < startsAt ? sendAt : due, 0,
                    Transactional: true, SessionId: id));
            }
        }

        if (s.RemindersOff)
        {
            return list; // only what the person still needs to know about sessions they booked
        }

        var reminders = new List<(string Series, string Template, DateTimeOffset Anchor, DateTimeOffset Due, int Priority, string? SessionId)>();
        if (s.LapsedAt is null)
        {
            if (s.Status == EnrolmentStatus.Enrolled && n.NotStartedAfter is { } notStarted)
            {
                AddRepeating(reminders, s, n, EmailTemplates.NotStarted, EmailTemplates.NotStarted, s.EnrolledAt, notStarted, 5);
            }

            if (s.Status == EnrolmentStatus.InProgress && n.StalledAfter is { } stalled)
            {
                AddRepeating(reminders, s, n, EmailTemplates.Stalled, EmailTemplates.Stalled, LatestProgress(s), stalled, 4);
            }

            var bookedUntil = BookingPendingUntil(s);
            var noBooking = bookedUntil is null || bookedUntil <= now;
            if (s.Status is EnrolmentStatus.InProgress or EnrolmentStatus.AwaitingLiveSession && noBooking &&
                LatestMissed(s) is var (missedId, missedAt) && missedId is not null)
            {
                var series = $"{EmailTemplates.MissedSession}:{missedId}";
                if (Record(s, series, missedAt) is null)
                {
                    reminders.Add((series, EmailTemplates.MissedSession, missedAt, missedAt, 2, missedId));
                }
            }

            if (s.Status == EnrolmentStatus.AwaitingLiveSession && n.BookSessionAfter is { } bookAfter)
            {
                // While a booking is pending this waits; a booking whose register never came stops holding it a week after the session.
                AddRepeating(reminders, s, n, EmailTemplates.BookSession, EmailTemplates.BookSession, ModulesDoneAt(s, programme), bookAfter, 3,
                    notBefore: bookedUntil);
            }

            foreach (var offset in n.DeadlineReminders)
            {
                var due = s.Deadline - offset;
                var series = $"{EmailTemplates.Deadline}:{IsoDuration.Format(offset)}";
                if (due >= s.EnrolledAt && Record(s, series, s.Deadline) is null)
                {
                    // Nearer offsets come first when several are due together: 3 days left matters more than 14.
                    reminders.Add((series, EmailTemplates.Deadline, s.Deadline, due, 1, null));
                }
            }
        }
        else if (s.Status == EnrolmentStatus.Lapsed && n.RepeatEvery is { } every && n.MaxRepeats > 0)
        {
            var record = Record(s, EmailTemplates.Overdue, s.Deadline);
            if ((record?.Sent ?? 0) < n.MaxRepeats)
            {
                reminders.Add((EmailTemplates.Overdue, EmailTemplates.Overdue, s.Deadline, (record?.LastAt ?? s.Deadline) + every, 1, null));
            }
        }

        var notBefore = s.LastNudgeAt is { } last && n.MinGap is { } gap ? last + gap : DateTimeOffset.MinValue;
        foreach (var r in reminders)
        {
            var sendAt = DeliveryWindow.NextOpening(r.Due > notBefore ? r.Due : notBefore, n, transactional: false);
            if (r.Template == EmailTemplates.Deadline && sendAt >= s.Deadline)
            {
                continue; // a deadline reminder that could only go after the deadline says nothing useful
            }

            list.Add(new NudgeCandidate(r.Series, r.Template, r.Anchor, r.Due, sendAt, r.Priority, Transactional: false, r.SessionId));
        }

        return list;
    }

    /// <summary>When the next reminder will go, if the facts stay as they are; shown as <c>nextNudgeAt</c>.</summary>
    public static DateTimeOffset? NextAt(EnrolmentState s, ProgrammeDefinition programme, DateTimeOffset now)
    {
        DateTimeOffset? next = null;
        foreach (var c in Candidates(s, programme, now))
        {
            var at = c.SendAt > now ? c.SendAt : now;
            if (next is null || at < next)
            {
                next = at;
            }
        }

        return next;
    }

    /// <summary>
    /// The reminders to send at <paramref name="now"/>: every due transactional one, and the most
    /// urgent due non-transactional one. A farther deadline reminder due alongside a nearer one is
    /// dropped. The other due reminders wait for <c>minGap</c> when the programme sets one; without
    /// it they are dropped for this round, so a person never gets two reminders in one go. Whatever
    /// was sent or dropped is recorded, so nothing is due again at the same moment.
    /// </summary>
    public static (EnrolmentState State, IReadOnlyList<NudgeCandidate> Send) Due(EnrolmentState s, ProgrammeDefinition programme, DateTimeOffset now)
    {
        var due = Candidates(s, programme, now).Where(c => c.SendAt <= now).ToList();
        if (due.Count == 0)
        {
            return (s, []);
        }

        var send = due.Where(c => c.Transactional).ToList();
        var settled = new List<NudgeCandidate>(send);
        var reminders = due.Where(c => !c.Transactional).ToList();
        var nearestDeadline = reminders.Where(c => c.Template == EmailTemplates.Deadline).MaxBy(c => c.DueAt);
        var superseded = reminders.Where(c => c.Template == EmailTemplates.Deadline && c != nearestDeadline).ToList();
        settled.AddRange(superseded);
        reminders.RemoveAll(superseded.Contains);
        if (reminders.Count > 0)
        {
            var pick = reminders.OrderBy(c => c.Priority).ThenByDescending(c => c.DueAt).ThenBy(c => c.Series, StringComparer.Ordinal).First();
            send.Add(pick);
            settled.Add(pick);
            if (programme.Nudges?.MinGap is null)
            {
                settled.AddRange(reminders.Where(c => c != pick));
            }

            s = s with { LastNudgeAt = now };
        }

        var records = s.Nudges;
        foreach (var c in settled)
        {
            var sent = Record(s, c.Series, c.Anchor)?.Sent ?? 0;
            var ever = s.Nudges.TryGetValue(c.Series, out var previous) ? Math.Max(previous.Ever, previous.Sent) : 0;
            records = records.SetItem(c.Series, new NudgeRecord(sent + 1, now, c.Anchor, ever + 1));
        }

        return (s with { Nudges = records }, send);
    }

    private static void AddRepeating(
        List<(string, string, DateTimeOffset, DateTimeOffset, int, string?)> reminders,
        EnrolmentState s, NudgeSettings n, string series, string template, DateTimeOffset anchor, TimeSpan after, int priority,
        DateTimeOffset? notBefore = null)
    {
        var record = Record(s, series, anchor);
        var sent = record?.Sent ?? 0;
        DateTimeOffset due;
        if (sent == 0)
        {
            due = anchor + after;
        }
        else if (n.RepeatEvery is { } every && sent <= n.MaxRepeats)
        {
            due = record!.LastAt + every;
        }
        else
        {
            return;
        }

        reminders.Add((series, template, anchor, notBefore is { } floor && floor > due ? floor : due, priority, null));
    }

    /// <summary>
    /// How long the person's bookings stand in the way of "book a session": until a week after the
    /// latest booked session they have neither attended nor been marked absent from (a register can
    /// come late; one that never comes must not silence the reminders for good). Null: no booking.
    /// </summary>
    public static DateTimeOffset? BookingPendingUntil(EnrolmentState s)
    {
        DateTimeOffset? until = null;
        // The dictionaries are enumerated directly (a struct enumerator), not through .Values (a query): this runs for every decision.
        foreach (var (_, x) in s.Sessions)
        {
            if (x is { Booked: true, AttendedAt: null, MissedReported: false })
            {
                var end = (x.StartsAt ?? DateTimeOffset.MaxValue - RegisterGrace) + RegisterGrace;
                until = until is null || end > until ? end : until;
            }
        }

        return until;
    }

    /// <summary>How long after a session its register may still arrive.</summary>
    public static readonly TimeSpan RegisterGrace = TimeSpan.FromDays(7);

    /// <summary>The series' record if it counts from <paramref name="anchor"/>; a series counted from another moment has started again.</summary>
    private static NudgeRecord? Record(EnrolmentState s, string series, DateTimeOffset anchor) =>
        s.Nudges.TryGetValue(series, out var r) && r.Anchor == anchor ? r : null;

    /// <summary>The latest moment the person made progress: a module completed or a session attended.</summary>
    private static DateTimeOffset LatestProgress(EnrolmentState s)
    {
        var latest = s.EnrolledAt;
        foreach (var (_, at) in s.ModulesCompleted)
        {
            latest = at > latest ? at : latest;
        }

        foreach (var (_, session) in s.Sessions)
        {
            latest = session.AttendedAt is { } at && at > latest ? at : latest;
        }

        return latest;
    }

    private static DateTimeOffset ModulesDoneAt(EnrolmentState s, ProgrammeDefinition programme)
    {
        var latest = s.EnrolledAt;
        foreach (var module in programme.RequiredModules)
        {
            if (s.ModulesCompleted.TryGetValue(module.Id, out var at) && at > latest)
            {
                latest = at;
            }
        }

        return latest;
    }

    private static (string? Id, DateTimeOffset At) LatestMissed(EnrolmentState s)
    {
        (string? Id, DateTimeOffset At) latest = (null, default);
        foreach (var (id, session) in s.Sessions)
        {
            if (session is { MissedReported: true, AttendedAt: null, MissedAt: { } at } && (latest.Id is null || at > latest.At))
            {
                latest = (id, at);
            }
        }

        return latest;
    }
}
