using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Enrolments;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.LiveSessions;

/// <summary>Live in-person sessions, bookings with a capacity, and attendance registers.</summary>
public static class LiveSessionEndpoints
{
    public sealed record SessionBody(string? ProgrammeId, string? Title, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt, string? Location, int? Capacity);

    public sealed record SessionView(string Id, string ProgrammeId, string Title, DateTimeOffset StartsAt, DateTimeOffset EndsAt,
        string Location, int Capacity, int Booked, int PlacesLeft);

    public sealed record BookingBody(string? EnrolmentId);

    public sealed record BookingView(string SessionId, Guid EnrolmentId, string Status, int PlacesLeft, EnrolmentStatus EnrolmentStatus);

    public sealed record Attendee(string? EnrolmentId, bool? Attended);

    public sealed record AttendanceBody(List<Attendee?>? Attendees);

    public sealed record AttendanceView(string SessionId, IReadOnlyList<AttendanceResult> Attendees);

    public sealed record AttendanceResult(Guid EnrolmentId, bool Attended, EnrolmentStatus EnrolmentStatus);

    private const int MaxRegisterSize = 5_000;

    public static RouteGroupBuilder MapLiveSessions(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/sessions").WithTags("Live sessions");
        group.MapPut("/{sessionId}", PutAsync).Accepts<SessionBody>("application/json")
            .WithSummary("Create or update a live session (admin, sessions).");
        group.MapGet("/{sessionId}", GetAsync).WithSummary("A live session and how many places are left.");
        group.MapPost("/{sessionId}/bookings", BookAsync).Accepts<BookingBody>("application/json")
            .WithSummary("Book a person onto the session; capacity is enforced (admin, sessions, or the person's school).");
        group.MapDelete("/{sessionId}/bookings/{enrolmentId}", CancelBookingAsync)
            .WithSummary("Cancel a booking, freeing the place.");
        group.MapPost("/{sessionId}/attendance", RecordAttendanceAsync).Accepts<AttendanceBody>("application/json")
            .WithSummary("Record the register: who attended and who did not. All or nothing (admin, sessions).");
        return group;
    }

    private static async Task<Results<Created<SessionView>, Ok<SessionView>, ProblemHttpResult>> PutAsync(
        string sessionId, HttpContext http, IWorkflowStore store, ProgrammeCatalogue catalogue, EnrolmentWorkflow workflow, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().Has(Scopes.Sessions))
        {
            return Problems.Forbidden("Authorization", "only an admin or sessions key can manage live sessions.");
        }

        var (body, problem) = await JsonBody.ReadAsync<SessionBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        if (!ProgrammeDocument.IdPattern().IsMatch(sessionId))
        {
            errors.Add("sessionId", "must be 1 to 64 letters, digits, '.', '_' or '-'.");
        }

        Require(body!.ProgrammeId, "programmeId", errors);
        Require(body.Title, "title", errors);
        Require(body.Location, "location", errors);
        if (body.StartsAt is null)
        {
            errors.Add("startsAt", "is required.");
        }

        if (body.EndsAt is null)
        {
            errors.Add("endsAt", "is required.");
        }
        else if (body.StartsAt is { } s && body.EndsAt <= s)
        {
            errors.Add("endsAt", "must be after startsAt.");
        }

        if (body.Capacity is not (>= 1 and <= 10_000))
        {
            errors.Add("capacity", "is required, from 1 to 10000.");
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        if (await catalogue.GetCurrentAsync(body.ProgrammeId!.Trim(), ct) is null)
        {
            return Problems.Field("programmeId", $"no programme '{body.ProgrammeId}' exists.", StatusCodes.Status422UnprocessableEntity);
        }

        var session = new LiveSession(sessionId, body.ProgrammeId.Trim(), body.Title!.Trim(), body.StartsAt!.Value, body.EndsAt!.Value,
            body.Location!.Trim(), body.Capacity!.Value);
        await using var tx = await store.BeginAsync(ct);
        var existing = await tx.GetSessionAsync(sessionId);
        var booked = await tx.CountActiveBookingsAsync(sessionId);
        if (existing is not null && existing.ProgrammeId != session.ProgrammeId && booked > 0)
        {
            return Problems.Conflict("programmeId", "people are booked on this session; its programme cannot change.");
        }

        if (booked > session.Capacity)
        {
            return Problems.Conflict("capacity", $"{booked} people are already booked; capacity cannot be lower than that.");
        }

        await tx.UpsertSessionAsync(session, clock.GetUtcNow());
        if (existing is not null && booked > 0 &&
            (existing.StartsAt != session.StartsAt || existing.Title != session.Title || existing.Location != session.Location))
        {
            // A moved or renamed session: everyone booked on it gets their reminder for the new time and place.
            foreach (var enrolmentId in await tx.ListBookedEnrolmentsAsync(sessionId))
            {
                await workflow.ApplyInAsync(tx, enrolmentId, Booking(session), ct);
            }
        }

        await tx.CommitAsync();
        var view = View(session, booked);
        return existing is null ? TypedResults.Created($"/api/v1/sessions/{sessionId}", view) : TypedResults.Ok(view);
    }

    private static async Task<Results<Ok<SessionView>, ProblemHttpResult>> GetAsync(string sessionId, IWorkflowStore store, CancellationToken ct)
    {
        var session = await store.GetSessionAsync(sessionId, ct);
        return session is null
            ? Problems.NotFound("live session", "sessionId", sessionId)
            : TypedResults.Ok(View(session, await store.CountActiveBookingsAsync(sessionId, ct)));
    }

    private static async Task<Results<Created<BookingView>, Ok<BookingView>, ProblemHttpResult>> BookAsync(
        string sessionId, HttpContext http, IWorkflowStore store, EnrolmentAccess access, EnrolmentWorkflow workflow, TimeProvider clock, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<BookingBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (string.IsNullOrWhiteSpace(body!.EnrolmentId))
        {
            return Problems.Field("enrolmentId", "is required.");
        }

        var (enrolment, accessProblem) = await access.FindAsync(body.EnrolmentId, http.Caller(), Scopes.Sessions, ct);
        if (accessProblem is not null)
        {
            return accessProblem;
        }

        var id = enrolment!.State.Id;
        ApplyOutcome outcome;
        int placesLeft;
        var created = false;
        await using (var tx = await store.BeginAsync(ct))
        {
            var session = await tx.GetSessionAsync(sessionId);
            if (session is null)
            {
                return Problems.NotFound("live session", "sessionId", sessionId);
            }

            if (session.ProgrammeId != enrolment.State.ProgrammeId)
            {
                return Problems.Field("enrolmentId", $"the enrolment is on programme '{enrolment.State.ProgrammeId}', this session is for '{session.ProgrammeId}'.",
                    StatusCodes.Status422UnprocessableEntity);
            }

            var booked = await tx.CountActiveBookingsAsync(sessionId);
            if (await tx.GetBookingStatusAsync(sessionId, id) == "booked")
            {
                outcome = new ApplyOutcome(ApplyStatus.Unchanged, await tx.GetEnrolmentAsync(id));
                placesLeft = session.Capacity - booked;
            }
            else
            {
                if (clock.GetUtcNow() >= session.StartsAt)
                {
                    return Problems.Conflict("sessionId", "the session has already started; bookings are closed.");
                }

                if (booked >= session.Capacity)
                {
                    return Problems.Conflict("sessionId", $"the session is full ({session.Capacity} places).");
                }

                outcome = await workflow.ApplyInAsync(tx, id, Booking(session), ct);
                if (outcome.Rejection is { } rejection)
                {
                    return EnrolmentAccess.ToProblem(rejection);
                }

                await tx.SetBookingAsync(sessionId, id, "booked", clock.GetUtcNow());
                await tx.CommitAsync();
                created = true;
                placesLeft = session.Capacity - booked - 1;
            }
        }

        workflow.NotifyIfEffects(outcome);
        var view = new BookingView(sessionId, id, "booked", placesLeft, outcome.Enrolment!.State.Status);
        return created ? TypedResults.Created($"/api/v1/sessions/{sessionId}/bookings/{id}", view) : TypedResults.Ok(view);
    }

    private static async Task<Results<Ok<BookingView>, ProblemHttpResult>> CancelBookingAsync(
        string sessionId, string enrolmentId, HttpContext http, IWorkflowStore store, EnrolmentAccess access, EnrolmentWorkflow workflow,
        TimeProvider clock, CancellationToken ct)
    {
        var (enrolment, accessProblem) = await access.FindAsync(enrolmentId, http.Caller(), Scopes.Sessions, ct);
        if (accessProblem is not null)
        {
            return accessProblem;
        }

        var id = enrolment!.State.Id;
        await using var tx = await store.BeginAsync(ct);
        var session = await tx.GetSessionAsync(sessionId);
        if (session is null)
        {
            return Problems.NotFound("live session", "sessionId", sessionId);
        }

        if (await tx.GetBookingStatusAsync(sessionId, id) != "booked")
        {
            return Problems.NotFound("booking", "enrolmentId", enrolmentId);
        }

        var outcome = await workflow.ApplyInAsync(tx, id, new BookingCancelled(sessionId), ct);
        await tx.SetBookingAsync(sessionId, id, "cancelled", clock.GetUtcNow());
        var booked = await tx.CountActiveBookingsAsync(sessionId);
        await tx.CommitAsync();
        workflow.NotifyIfEffects(outcome);
        return TypedResults.Ok(new BookingView(sessionId, id, "cancelled", session.Capacity - booked, (outcome.Enrolment ?? enrolment).State.Status));
    }

    private static async Task<Results<Ok<AttendanceView>, ProblemHttpResult>> RecordAttendanceAsync(
        string sessionId, HttpContext http, IWorkflowStore store, EnrolmentWorkflow workflow, TimeProvider clock, CancellationToken ct)
    {
        var caller = http.Caller();
        if (!caller.Has(Scopes.Sessions))
        {
            return Problems.Forbidden("Authorization", "only an admin or sessions key can record attendance.");
        }

        var (body, problem) = await JsonBody.ReadAsync<AttendanceBody>(http.Request, ct, 4 * JsonBody.DefaultLimitBytes);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new FieldErrors();
        var attendees = new List<(Guid Id, bool Attended, int Index)>();
        if (body!.Attendees is not { Count: > 0 and <= MaxRegisterSize })
        {
            return Problems.Field("attendees", $"must list 1 to {MaxRegisterSize} attendees.");
        }

        var seen = new HashSet<Guid>();
        for (var i = 0; i < body.Attendees.Count; i++)
        {
            var a = body.Attendees[i];
            if (a is null || !Guid.TryParse(a.EnrolmentId, out var id))
            {
                errors.Add($"attendees[{i}].enrolmentId", "is required and must be an enrolment id.");
                continue;
            }

            if (a.Attended is null)
            {
                errors.Add($"attendees[{i}].attended", "is required (true or false).");
                continue;
            }

            if (!seen.Add(id))
            {
                errors.Add($"attendees[{i}].enrolmentId", "appears more than once in this register.");
                continue;
            }

            attendees.Add((id, a.Attended.Value, i));
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors);
        }

        var now = clock.GetUtcNow();
        var results = new List<AttendanceResult>();
        var outcomes = new List<ApplyOutcome>();
        await using (var tx = await store.BeginAsync(ct))
        {
            var session = await tx.GetSessionAsync(sessionId);
            if (session is null)
            {
                return Problems.NotFound("live session", "sessionId", sessionId);
            }

            if (now < session.StartsAt)
            {
                return Problems.Conflict("sessionId", "the session has not started yet; record attendance once it has.");
            }

            // Attendance counts from the end of the session, or now if the register is taken before it ends.
            var attendedAt = DateTimeOffset.FromUnixTimeMilliseconds((now < session.EndsAt ? now : session.EndsAt).ToUnixTimeMilliseconds());
            foreach (var (id, attended, index) in attendees)
            {
                var field = $"attendees[{index}].enrolmentId";
                var enrolment = await tx.GetEnrolmentAsync(id);
                if (enrolment is null || !EnrolmentAccess.Allows(caller, enrolment.State.SchoolUrn, Scopes.Sessions))
                {
                    return Problems.Field(field, $"no enrolment '{id}' was found.", StatusCodes.Status422UnprocessableEntity);
                }

                if (enrolment.State.ProgrammeId != session.ProgrammeId)
                {
                    return Problems.Field(field, $"the enrolment is on programme '{enrolment.State.ProgrammeId}', this session is for '{session.ProgrammeId}'.",
                        StatusCodes.Status422UnprocessableEntity);
                }

                WorkflowEvent evt = attended ? new SessionAttended(sessionId, attendedAt) : new SessionMissed(sessionId);
                var outcome = await workflow.ApplyInAsync(tx, id, evt, ct);
                if (outcome.Rejection is { } rejection)
                {
                    return EnrolmentAccess.ToProblem(rejection with { Field = "enrolmentId" }, $"attendees[{index}]");
                }

                outcomes.Add(outcome);
                results.Add(new AttendanceResult(id, attended, outcome.Enrolment!.State.Status));
            }

            await tx.CommitAsync();
        }

        foreach (var outcome in outcomes)
        {
            workflow.NotifyIfEffects(outcome);
        }

        return TypedResults.Ok(new AttendanceView(sessionId, results));
    }

    private static SessionView View(LiveSession s, int booked) =>
        new(s.Id, s.ProgrammeId, s.Title, s.StartsAt, s.EndsAt, s.Location, s.Capacity, booked, Math.Max(0, s.Capacity - booked));

    private static void Require(string? value, string field, FieldErrors errors)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(field, "is required.");
        }
        else if (value.Length > 200)
        {
            errors.Add(field, "must be at most 200 characters.");
        }
    }

    private static LiveSessionBooked Booking(LiveSession session) => new(session.Id, session.StartsAt, session.Title, session.Location);
}
