using System.Collections.Immutable;
using System.Text.Json;
using SendWorkflows.Http;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Storage;

/// <summary>
/// Enrolment state and events are stored as JSON. Rows written by any earlier version must still read,
/// and must write back exactly as they were: the samples below were written by the service before its
/// serializer metadata was generated at compile time.
/// </summary>
public sealed class StoredJsonShapeTests
{
    private const string StoredState =
        """{"id":"0b8f2a0e-6c1d-4e3f-9a7b-5c2d1e0f4a3b","programmeId":"send-inclusion-core","programmeVersion":3,"schoolUrn":"100004","staff":{"externalId":"T-1","givenName":"Ann","familyName":"O\u0027Neil","email":"ann@school.example.org","role":"teaching_assistant"},"status":"awaiting_live_session","enrolledAt":"2026-09-01T08:00:00Z","deadline":"2027-03-01T17:00:00.5Z","modulesCompleted":{"adaptive-teaching":"2026-10-02T09:30:00.123Z","identification":"2026-09-15T12:00:00Z"},"sessions":{"leeds-1":{"booked":true,"startsAt":"2026-12-01T10:00:00Z","attendedAt":null,"missedReported":false,"missedAt":null,"title":"Leeds \u2014 autumn","location":"Room 1"},"york":{"booked":false,"startsAt":null,"attendedAt":null,"missedReported":true,"missedAt":"2026-11-01T10:00:00Z","title":null,"location":null}},"completedAt":null,"lapsedAt":null,"withdrawnAt":null,"certificateVersion":0,"remindersOff":true,"emailBouncedAt":null,"nudges":{"deadline:P14D":{"sent":1,"lastAt":"2027-02-15T08:00:00Z","anchor":"2027-03-01T17:00:00.5Z","ever":1},"not-started":{"sent":2,"lastAt":"2026-09-15T08:00:00Z","anchor":"2026-09-01T08:00:00Z","ever":3}},"lastNudgeAt":"2027-02-15T08:00:00Z","certificateRevokedAt":null}""";

    // Written before the certificate and reminder fields existed: what is missing takes its default.
    private const string OlderState =
        """{"id":"0b8f2a0e-6c1d-4e3f-9a7b-5c2d1e0f4a3b","programmeId":"p","programmeVersion":1,"schoolUrn":"100004","staff":{"externalId":"T-1","givenName":"Ann","familyName":"Smith","email":"ann@school.example.org","role":"teacher"},"status":"enrolled","enrolledAt":"2026-09-01T08:00:00+01:00","deadline":"2027-03-01T17:00:00Z"}""";

    public static TheoryData<string> StoredEvents() =>
    [
        """{"type":"enrolled","staff":{"externalId":"T-1","givenName":"Ann","familyName":"Smith","email":"ann@school.example.org","role":"leader"}}""",
        """{"type":"module_completed","moduleId":"identification","completedAt":"2026-10-02T09:30:00.123Z"}""",
        """{"type":"live_session_booked","sessionId":"leeds-1","startsAt":"2026-12-01T10:00:00Z","title":null,"location":"Room 1"}""",
        """{"type":"session_attended","sessionId":"leeds-1","attendedAt":"2026-12-01T10:05:00Z"}""",
        """{"type":"timer_fired","dueAt":"2026-12-01T10:00:00Z","version":7}""",
        """{"type":"withdrawn","reason":null}""",
        """{"type":"reinstated"}""",
        """{"type":"email_bounced","email":"ann@school.example.org","reason":"bounce"}""",
    ];

    [Fact]
    public void stored_state_reads_and_writes_back_exactly_as_it_was_stored()
    {
        var state = JsonSerializer.Deserialize<EnrolmentState>(StoredState, JsonBody.Options)!;

        Assert.Equal(StoredState, JsonSerializer.Serialize(state, JsonBody.Options));
        Assert.Equal(EnrolmentStatus.AwaitingLiveSession, state.Status);
        Assert.Equal(["adaptive-teaching", "identification"], state.ModulesCompleted.Keys);
        Assert.Equal(new DateTimeOffset(2026, 10, 2, 9, 30, 0, 123, TimeSpan.Zero), state.ModulesCompleted["adaptive-teaching"]);
        Assert.Equal(3, state.Nudges["not-started"].Ever);
        Assert.True(state.Sessions["leeds-1"].Booked);
    }

    [Fact]
    public void state_stored_before_later_fields_existed_still_reads()
    {
        var state = JsonSerializer.Deserialize<EnrolmentState>(OlderState, JsonBody.Options)!;

        Assert.Empty(state.ModulesCompleted);
        Assert.Empty(state.Nudges);
        Assert.Equal(0, state.CertificateVersion);
        Assert.Equal(new DateTimeOffset(2026, 9, 1, 7, 0, 0, TimeSpan.Zero), state.EnrolledAt);
        Assert.Equal(
            """{"id":"0b8f2a0e-6c1d-4e3f-9a7b-5c2d1e0f4a3b","programmeId":"p","programmeVersion":1,"schoolUrn":"100004","staff":{"externalId":"T-1","givenName":"Ann","familyName":"Smith","email":"ann@school.example.org","role":"teacher"},"status":"enrolled","enrolledAt":"2026-09-01T07:00:00Z","deadline":"2027-03-01T17:00:00Z","modulesCompleted":{},"sessions":{},"completedAt":null,"lapsedAt":null,"withdrawnAt":null,"certificateVersion":0,"remindersOff":false,"emailBouncedAt":null,"nudges":{},"lastNudgeAt":null,"certificateRevokedAt":null}""",
            JsonSerializer.Serialize(state, JsonBody.Options));
    }

    [Fact]
    public void a_new_state_is_written_in_the_stored_shape()
    {
        var state = JsonSerializer.Deserialize<EnrolmentState>(StoredState, JsonBody.Options)!;
        var rebuilt = new EnrolmentState
        {
            Id = state.Id, ProgrammeId = state.ProgrammeId, ProgrammeVersion = state.ProgrammeVersion, SchoolUrn = state.SchoolUrn,
            Staff = state.Staff, Status = state.Status, EnrolledAt = state.EnrolledAt, Deadline = state.Deadline,
            ModulesCompleted = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, state.ModulesCompleted),
            Sessions = state.Sessions, RemindersOff = true, Nudges = state.Nudges, LastNudgeAt = state.LastNudgeAt,
        };

        Assert.Equal(StoredState, JsonSerializer.Serialize(rebuilt, JsonBody.Options));
    }

    [Theory]
    [MemberData(nameof(StoredEvents))]
    public void a_stored_event_reads_and_writes_back_exactly_as_it_was_stored(string json)
    {
        var evt = JsonSerializer.Deserialize<WorkflowEvent>(json, JsonBody.Options)!;

        Assert.Equal(json, JsonSerializer.Serialize(evt, JsonBody.Options));
    }
}
