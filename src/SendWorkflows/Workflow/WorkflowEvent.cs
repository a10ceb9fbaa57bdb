using System.Text.Json.Serialization;

namespace SendWorkflows.Workflow;

/// <summary>
/// Something that happened to an enrolment. Each is stored once in the event log under a key that
/// makes a repeated delivery recognisable (see <see cref="EventKeys"/>).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(Enrolled), "enrolled")]
[JsonDerivedType(typeof(ModuleCompleted), "module_completed")]
[JsonDerivedType(typeof(LiveSessionBooked), "live_session_booked")]
[JsonDerivedType(typeof(BookingCancelled), "booking_cancelled")]
[JsonDerivedType(typeof(SessionAttended), "session_attended")]
[JsonDerivedType(typeof(SessionMissed), "session_missed")]
[JsonDerivedType(typeof(DeadlineExtended), "deadline_extended")]
[JsonDerivedType(typeof(Withdrawn), "withdrawn")]
[JsonDerivedType(typeof(Reinstated), "reinstated")]
[JsonDerivedType(typeof(ContactDetailsChanged), "contact_details_changed")]
[JsonDerivedType(typeof(TimerFired), "timer_fired")]
[JsonDerivedType(typeof(CertificateRevoked), "certificate_revoked")]
[JsonDerivedType(typeof(PreferencesChanged), "preferences_changed")]
[JsonDerivedType(typeof(EmailBounced), "email_bounced")]
public abstract record WorkflowEvent;

public sealed record Enrolled(StaffMember Staff) : WorkflowEvent;

public sealed record ModuleCompleted(string ModuleId, DateTimeOffset CompletedAt) : WorkflowEvent;

/// <summary>A place on a live session; applied again with the new details when the session is moved.</summary>
public sealed record LiveSessionBooked(string SessionId, DateTimeOffset StartsAt, string? Title = null, string? Location = null) : WorkflowEvent;

public sealed record BookingCancelled(string SessionId) : WorkflowEvent;

public sealed record SessionAttended(string SessionId, DateTimeOffset AttendedAt) : WorkflowEvent;

public sealed record SessionMissed(string SessionId) : WorkflowEvent;

public sealed record DeadlineExtended(DateTimeOffset NewDeadline) : WorkflowEvent;

public sealed record Withdrawn(string? Reason) : WorkflowEvent;

public sealed record Reinstated : WorkflowEvent;

public sealed record ContactDetailsChanged(StaffMember Staff) : WorkflowEvent;

/// <summary>
/// The enrolment's next-wake time has come; <paramref name="DueAt"/> is the wake time that fired, and
/// <paramref name="Version"/> the state it fired on. Two workers firing the same timer make the same
/// key, so only one counts; a later wake that happens to fall on the same moment (reminders held to
/// the same Monday 08:00) is a new timer, because the state has moved on.
/// </summary>
public sealed record TimerFired(DateTimeOffset DueAt, long? Version = null) : WorkflowEvent;

/// <summary>An admin revoked the enrolment's certificate <paramref name="Number"/>.</summary>
public sealed record CertificateRevoked(string Number, string Reason) : WorkflowEvent;

/// <summary>The person chose, on their preferences page, whether to receive reminder emails (non-essential ones).</summary>
public sealed record PreferencesChanged(bool Reminders) : WorkflowEvent;

/// <summary>The email provider reported the person's address as undeliverable (a bounce, block or spam report).</summary>
public sealed record EmailBounced(string Email, string Reason) : WorkflowEvent;

/// <summary>The idempotency keys under which events are stored: equal keys mean the same event.</summary>
public static class EventKeys
{
    public static string For(WorkflowEvent e) => e switch
    {
        Enrolled => "enrolled",
        ModuleCompleted m => $"module:{m.ModuleId}:{m.CompletedAt.UtcTicks}",
        SessionAttended a => $"attended:{a.SessionId}:{a.AttendedAt.UtcTicks}",
        SessionMissed m => $"missed:{m.SessionId}",
        TimerFired t => t.Version is { } version ? $"timer:{t.DueAt.UtcTicks}:{version}" : $"timer:{t.DueAt.UtcTicks}",
        CertificateRevoked r => $"revoked:{r.Number}",
        // Bookings and lifecycle changes may legitimately repeat (book, cancel, book again; withdraw, reinstate, withdraw again); a retried
        // HTTP request is recognised by its Idempotency-Key instead, and the decider treats a
        // change to the state the enrolment is already in as no change.
        _ => $"{TypeName(e)}:{Guid.NewGuid():N}",
    };

    public static string TypeName(WorkflowEvent e) => e switch
    {
        Enrolled => "enrolled",
        ModuleCompleted => "module_completed",
        LiveSessionBooked => "live_session_booked",
        BookingCancelled => "booking_cancelled",
        SessionAttended => "session_attended",
        SessionMissed => "session_missed",
        DeadlineExtended => "deadline_extended",
        Withdrawn => "withdrawn",
        Reinstated => "reinstated",
        ContactDetailsChanged => "contact_details_changed",
        TimerFired => "timer_fired",
        CertificateRevoked => "certificate_revoked",
        PreferencesChanged => "preferences_changed",
        EmailBounced => "email_bounced",
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "unknown event"),
    };
}
