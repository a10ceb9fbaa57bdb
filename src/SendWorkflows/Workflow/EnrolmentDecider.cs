using System.Globalization;
using SendWorkflows.Programmes;

namespace SendWorkflows.Workflow;

/// <summary>
/// The enrolment orchestration as a pure function: (state, event, now) → decision. No I/O and no
/// clock of its own, so every rule of the programme can be tested without a database.
/// </summary>
public static class EnrolmentDecider
{
    public static Decision Enrol(Guid id, string schoolUrn, StaffMember staff, ProgrammeVersion programme, DateTimeOffset now)
    {
        now = Moments.Truncate(now);
        var definition = programme.Definition;
        var state = new EnrolmentState
        {
            Id = id,
            ProgrammeId = definition.Id,
            ProgrammeVersion = programme.Version,
            SchoolUrn = schoolUrn,
            Staff = staff,
            Status = EnrolmentStatus.Enrolled,
            EnrolledAt = now,
            Deadline = now + definition.CompletionWindow,
        };

        var effects = new List<Effect> { Email(EmailTemplates.Welcome, state, definition) };
        var enrolled = state;
        state = Settle(state, definition, effects);
        Publish(enrolled, state, now, effects);
        return new Decision(state, effects, NextWake(state, definition, now), Changed: true);
    }

    public static Decision Decide(EnrolmentState state, WorkflowEvent evt, ProgrammeDefinition programme, DateTimeOffset now)
    {
        now = Moments.Truncate(now);
        evt = Moments.Truncate(evt);
        var rejection = Check(state, evt, programme, now);
        if (rejection is not null)
        {
            return new Decision(state, [], NextWake(state, programme, now), Changed: false, rejection);
        }

        var next = Evolve(state, evt, now);
        var effects = new List<Effect>();
        next = Settle(next, programme, effects);
        if (state.CertificateVersion > 0 && next.CertificateRevokedAt is null && CertificateReads(next) != CertificateReads(state))
        {
            // What an issued certificate says has changed (a corrected name, or an earlier completion
            // time reported late): a new version supersedes it.
            next = next with { CertificateVersion = next.CertificateVersion + 1 };
            effects.Add(new IssueCertificate(next.Id, next.CertificateVersion));
        }

        if (evt is TimerFired)
        {
            (next, var send) = NudgePolicy.Due(next, programme, now);
            effects.AddRange(send.Select(c => Nudge(c, next, programme, now)));
        }

        Publish(state, next, now, effects);
        var changed = !next.Equals(state);
        return new Decision(next, effects, NextWake(next, programme, now), changed);
    }

    /// <summary>The rules that refuse an event outright; nothing of a refused event is stored.</summary>
    private static Rejection? Check(EnrolmentState state, WorkflowEvent evt, ProgrammeDefinition programme, DateTimeOffset now)
    {
        var withdrawn = state.WithdrawnAt is not null;
        var completed = state.CompletedAt is not null;
        return evt switch
        {
            ModuleCompleted m when programme.FindModule(m.ModuleId) is null =>
                new(RejectionKind.Invalid, "moduleId", $"programme '{programme.Id}' has no module '{m.ModuleId}'."),
            ModuleCompleted or SessionAttended or SessionMissed or LiveSessionBooked when withdrawn =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment is withdrawn; reinstate it before reporting progress."),
            LiveSessionBooked when completed =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment is already completed; no live session is needed."),
            LiveSessionBooked b when state.LapsedAt is not null && !state.Sessions.ContainsKey(b.SessionId) =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment's deadline has passed; extend it before booking a session."),
            DeadlineExtended when completed =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment is already completed."),
            DeadlineExtended when withdrawn =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment is withdrawn; reinstate it first."),
            DeadlineExtended d when d.NewDeadline <= now =>
                new(RejectionKind.Invalid, "deadline", "must be in the future."),
            DeadlineExtended d when d.NewDeadline <= state.Deadline =>
                new(RejectionKind.Invalid, "deadline", $"must be later than the current deadline ({state.Deadline:O})."),
            Withdrawn when completed =>
                new(RejectionKind.Conflict, "enrolmentId", "the enrolment is already completed and cannot be withdrawn."),
            CertificateRevoked when state.CertificateVersion == 0 =>
                new(RejectionKind.Conflict, "number", "no certificate has been issued for this enrolment."),
            _ => null,
        };
    }

    /// <summary>Applies the event's facts to the state. Repeated or older facts leave it as it was.</summary>
    private static EnrolmentState Evolve(EnrolmentState state, WorkflowEvent evt, DateTimeOffset now)
    {
        switch (evt)
        {
            case ModuleCompleted m:
                return state.ModulesCompleted.TryGetValue(m.ModuleId, out var known) && known <= m.CompletedAt
                    ? state
                    : state with { ModulesCompleted = state.ModulesCompleted.SetItem(m.ModuleId, m.CompletedAt) };

            case LiveSessionBooked b:
            {
                var session = SessionOf(state, b.SessionId);
                var booked = session with
                {
                    Booked = true,
                    StartsAt = b.StartsAt,
                    Title = b.Title ?? session.Title,
                    Location = b.Location ?? session.Location,
                };
                return booked == session ? state : WithSession(state, b.SessionId, booked);
            }

            case BookingCancelled c:
            {
                var session = SessionOf(state, c.SessionId);
                return !session.Booked ? state : WithSession(state, c.SessionId, session with { Booked = false });
            }

            case SessionAttended a:
            {
                var session = SessionOf(state, a.SessionId);
                return session.AttendedAt is { } at && at <= a.AttendedAt
                    ? state
                    : WithSession(state, a.SessionId, session with { AttendedAt = a.AttendedAt });
            }

            case SessionMissed m:
            {
                var session = SessionOf(state, m.SessionId);
                return session.MissedReported ? state : WithSession(state, m.SessionId, session with { MissedReported = true, MissedAt = now });
            }

            case DeadlineExtended d:
                return state with { Deadline = d.NewDeadline, LapsedAt = null };

            case Withdrawn:
                return state.WithdrawnAt is not null ? state : state with { WithdrawnAt = now };

            case Reinstated:
                return state.WithdrawnAt is null
                    ? state
                    : state with { WithdrawnAt = null, LapsedAt = now >= state.Deadline && state.CompletedAt is null ? now : state.LapsedAt };

            case ContactDetailsChanged c:
                return state.Staff == c.Staff
                    ? state
                    : state with
                    {
                        Staff = c.Staff,
                        EmailBouncedAt = string.Equals(state.Staff.Email, c.Staff.Email, StringComparison.OrdinalIgnoreCase) ? state.EmailBouncedAt : null,
                    };

            case PreferencesChanged p:
                return state.RemindersOff == !p.Reminders ? state : state with { RemindersOff = !p.Reminders };

            case EmailBounced b:
                // A report about an address the person no longer uses says nothing about the current one.
                return state.EmailBouncedAt is not null || !string.Equals(state.Staff.Email, b.Email, StringComparison.OrdinalIgnoreCase)
                    ? state
                    : state with { EmailBouncedAt = now };

            case CertificateRevoked:
                return state.CertificateRevokedAt is not null ? state : state with { CertificateRevokedAt = now };

            case TimerFired:
                return now >= state.Deadline && state is { CompletedAt: null, WithdrawnAt: null, LapsedAt: null }
                    ? state with { LapsedAt = now }
                    : state;

            default:
                return state;
        }
    }

    /// <summary>
    /// Derives completion and status from the facts. Completion is decided at most once: it is
    /// recorded with the moment the last requirement was met, which depends only on the facts.
    /// </summary>
    private static EnrolmentState Settle(EnrolmentState state, ProgrammeDefinition programme, List<Effect> effects)
    {
        // Completion counts only if the requirements were met by the deadline, whether or not the
        // sweep has lapsed the enrolment yet, so the outcome never depends on when the sweep ran.
        if (state is { CompletedAt: null, WithdrawnAt: null } && RequirementsMetAt(state, programme) is { } metAt &&
            metAt <= state.Deadline)
        {
            state = state with { CompletedAt = metAt, LapsedAt = null, CertificateVersion = 1 };
            effects.Add(Email(EmailTemplates.Completion, state, programme));
            effects.Add(new IssueCertificate(state.Id, 1));
        }
        else if (state.CompletedAt is { } completedAt && RequirementsMetAt(state, programme) is { } earlier && earlier < completedAt)
        {
            // An earlier fact reported after completion (a module first done sooner than we were told)
            // moves the completion time back, so it never depends on the order reports arrived in.
            state = state with { CompletedAt = earlier };
        }

        var status = DeriveStatus(state, programme);
        return status == state.Status ? state : state with { Status = status };
    }

    /// <summary>
    /// The changes subscribers hear about: completion (once, ever) and every time the enrolment
    /// becomes lapsed (the deadline passed, or a reinstatement after it). Issued certificates are
    /// published by the issuer, which is where their number is known.
    /// </summary>
    private static void Publish(EnrolmentState before, EnrolmentState after, DateTimeOffset now, List<Effect> effects)
    {
        if (before.CompletedAt is null && after.CompletedAt is not null)
        {
            effects.Add(Published.Completed(after, now));
        }

        if (before.Status != EnrolmentStatus.Lapsed && after.Status == EnrolmentStatus.Lapsed)
        {
            effects.Add(Published.Lapsed(after, now));
        }
    }

    /// <summary>The parts of the state a certificate prints that can change after it is issued.</summary>
    private static (string GivenName, string FamilyName, DateTimeOffset? CompletedAt) CertificateReads(EnrolmentState s) =>
        (s.Staff.GivenName, s.Staff.FamilyName, s.CompletedAt);

    private static DateTimeOffset? RequirementsMetAt(EnrolmentState state, ProgrammeDefinition programme)
    {
        var latest = state.EnrolledAt;
        foreach (var module in programme.RequiredModules)
        {
            if (!state.ModulesCompleted.TryGetValue(module.Id, out var at))
            {
                return null;
            }

            latest = Max(latest, at);
        }

        if (programme.LiveSessionsRequired > 0)
        {
            var attended = state.Sessions.Values
                .Where(s => s.AttendedAt is not null)
                .Select(s => s.AttendedAt!.Value)
                .Order()
                .ToList();
            if (attended.Count < programme.LiveSessionsRequired)
            {
                return null;
            }

            latest = Max(latest, attended[programme.LiveSessionsRequired - 1]);
        }

        return latest;
    }

    private static EnrolmentStatus DeriveStatus(EnrolmentState state, ProgrammeDefinition programme)
    {
        if (state.WithdrawnAt is not null)
        {
            return EnrolmentStatus.Withdrawn;
        }

        if (state.CompletedAt is not null)
        {
            return EnrolmentStatus.Completed;
        }

        if (state.LapsedAt is not null)
        {
            return EnrolmentStatus.Lapsed;
        }

        if (programme.LiveSessionsRequired > 0 && programme.RequiredModules.All(m => state.ModulesCompleted.ContainsKey(m.Id)))
        {
            return EnrolmentStatus.AwaitingLiveSession;
        }

        return state.ModulesCompleted.IsEmpty && !AnyAttended(state)
            ? EnrolmentStatus.Enrolled
            : EnrolmentStatus.InProgress;
    }

    private static bool AnyAttended(EnrolmentState state)
    {
        foreach (var (_, session) in state.Sessions)
        {
            if (session.Attended)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// An open enrolment wakes at its deadline to lapse, and whenever a reminder is next due; a
    /// completed or withdrawn one never wakes, nor a lapsed one with no overdue reminders left.
    /// </summary>
    public static DateTimeOffset? NextWake(EnrolmentState state, ProgrammeDefinition programme, DateTimeOffset now)
    {
        DateTimeOffset? wake = state is { CompletedAt: null, WithdrawnAt: null, LapsedAt: null } ? state.Deadline : null;
        foreach (var c in NudgePolicy.Candidates(state, programme, now))
        {
            if (wake is null || c.SendAt < wake)
            {
                wake = c.SendAt;
            }
        }

        return wake;
    }

    private static EmailEffect Email(string template, EnrolmentState state, ProgrammeDefinition programme) =>
        new(template, $"{state.Id:N}:{template}", Recipient(state), Model(state, programme));

    private static Dictionary<string, string> Model(EnrolmentState state, ProgrammeDefinition programme)
    {
        var zone = programme.Zone;
        var model = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["givenName"] = state.Staff.GivenName,
            ["familyName"] = state.Staff.FamilyName,
            ["programmeTitle"] = programme.Title,
            ["issuer"] = programme.Issuer,
            ["deadline"] = LongDate(state.Deadline, zone),
            ["enrolmentId"] = state.Id.ToString(),
        };
        if (state.CompletedAt is { } completedAt)
        {
            model["completedOn"] = LongDate(completedAt, zone);
        }

        return model;
    }

    /// <summary>A reminder: what the person has done, what to do next, by when, and where.</summary>
    private static EmailEffect Nudge(NudgeCandidate c, EnrolmentState state, ProgrammeDefinition programme, DateTimeOffset now)
    {
        var model = Model(state, programme);
        var required = programme.RequiredModules.ToList();
        var done = required.Count(m => state.ModulesCompleted.ContainsKey(m.Id));
        model["modulesDone"] = done.ToString(CultureInfo.InvariantCulture);
        model["modulesTotal"] = required.Count.ToString(CultureInfo.InvariantCulture);
        model["modulesLeft"] = (required.Count - done).ToString(CultureInfo.InvariantCulture);
        if (required.FirstOrDefault(m => !state.ModulesCompleted.ContainsKey(m.Id)) is { } nextModule)
        {
            model["nextModule"] = nextModule.Title;
        }

        model["timeLeft"] = TimeLeft(state.Deadline - now);
        var link = c.Template is EmailTemplates.BookSession or EmailTemplates.MissedSession or EmailTemplates.SessionReminder
            ? programme.BookingUrl
            : programme.LearningUrl;
        if (link is not null)
        {
            model["actionUrl"] = link;
        }

        if (c.SessionId is { } sessionId && state.Sessions.TryGetValue(sessionId, out var session))
        {
            model["sessionTitle"] = session.Title ?? "your live session";
            if (session.Location is not null)
            {
                model["sessionLocation"] = session.Location;
            }

            if (session.StartsAt is { } startsAt)
            {
                model["sessionStartsAt"] = LocalTime(startsAt, programme.Zone);
            }
        }

        // One key per reminder decided: a retried decision finds it already in the outbox.
        var dedupe = $"{state.Id:N}:{c.Series}:{state.Nudges[c.Series].Ever}";
        return new EmailEffect(c.Template, dedupe, Recipient(state), model);
    }

    private static EmailRecipient Recipient(EnrolmentState state) =>
        new(state.Staff.Email, $"{state.Staff.GivenName} {state.Staff.FamilyName}".Trim());

    private static string LongDate(DateTimeOffset at, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(at, zone).ToString("d MMMM yyyy", CultureInfo.InvariantCulture);

    /// <summary>"Tuesday 1 December 2026 at 4pm", "… at 9:30am" in the programme's time zone.</summary>
    private static string LocalTime(DateTimeOffset at, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTime(at, zone);
        var hour = local.Hour % 12 == 0 ? 12 : local.Hour % 12;
        var minutes = local.Minute == 0 ? "" : local.ToString(":mm", CultureInfo.InvariantCulture);
        return $"{local.ToString("dddd d MMMM yyyy", CultureInfo.InvariantCulture)} at {hour}{minutes}{(local.Hour < 12 ? "am" : "pm")}";
    }

    private static string TimeLeft(TimeSpan left) => left.TotalDays switch
    {
        < 1 => "less than a day",
        < 2 => "1 day",
        _ => $"{(int)left.TotalDays} days",
    };

    private static LiveSessionRecord SessionOf(EnrolmentState state, string sessionId) =>
        state.Sessions.TryGetValue(sessionId, out var s) ? s : new LiveSessionRecord(false, null, null, false);

    private static EnrolmentState WithSession(EnrolmentState state, string sessionId, LiveSessionRecord session) =>
        state with { Sessions = state.Sessions.SetItem(sessionId, session) };

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a >= b ? a : b;
}
