using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Enrolments;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Xapi;

/// <summary>What a statement means for the service: whose enrolment it is about, and the progress event it reports, if any.</summary>
/// <param name="EnrolmentField">The statement field that named the enrolment, for problems about it.</param>
public sealed record StatementMeaning(Guid? EnrolmentId, WorkflowEvent? Event, string EnrolmentField, ProblemHttpResult? Problem = null);

/// <summary>
/// Turns statements into progress (DESIGN §4). <c>completed</c> and <c>passed</c> on a module's activity
/// are module completions; <c>attended</c> on a live session's activity is attendance. The person is
/// <c>context.registration</c> (the enrolment id) or the actor's account
/// <c>{homePage: &lt;PublicBaseUrl&gt;/schools/&lt;URN&gt;, name: &lt;externalId&gt;}</c>. A module's activity is
/// <c>&lt;PublicBaseUrl&gt;/programmes/&lt;programmeId&gt;/modules/&lt;moduleId&gt;</c> or any IRI in its
/// <c>activityIds</c>; a session's is <c>&lt;PublicBaseUrl&gt;/sessions/&lt;sessionId&gt;</c>. Other verbs carry
/// no progress. A school's key sees only its own school's people: anyone else's look like nobody.
/// </summary>
public sealed class StatementProgress(ProgrammeCatalogue programmes, PublicUrls urls)
{
    public const string Completed = "http://adlnet.gov/expapi/verbs/completed";
    public const string Passed = "http://adlnet.gov/expapi/verbs/passed";
    public const string Attended = "http://adlnet.gov/expapi/verbs/attended";

    private enum Progress
    {
        None,
        Module,
        Session,
    }

    /// <summary>
    /// Everyone the statements may be about, read in one go: the enrolments their registrations name and
    /// every enrolment of the people their accounts name.
    /// </summary>
    public async Task<StatementSubjects> SubjectsAsync(IStoreTransaction tx, IEnumerable<XapiStatement> statements, HttpRequest request)
    {
        var baseUrl = urls.BaseFor(request);
        var ids = new HashSet<Guid>();
        var people = new HashSet<(string SchoolUrn, string ExternalId)>();
        foreach (var statement in statements)
        {
            if (statement.Registration is { } registration)
            {
                ids.Add(registration);
            }

            if (statement.Account is { } account && SchoolOf(account.HomePage, baseUrl) is { } school)
            {
                people.Add((school, account.Name));
            }
        }

        var enrolments = ids.Count == 0 && people.Count == 0 ? [] : await tx.GetEnrolmentsAsync(ids, people);
        return new StatementSubjects(tx, enrolments);
    }

    public async Task<StatementMeaning> MeaningAsync(StatementSubjects subjects, XapiStatement statement, Caller caller, HttpRequest request,
        DateTimeOffset now, CancellationToken ct)
    {
        var progress = statement.ObjectKind != StatementObjectKind.Activity ? Progress.None : statement.Verb switch
        {
            Completed or Passed => Progress.Module,
            Attended => Progress.Session,
            _ => Progress.None,
        };
        var baseUrl = urls.BaseFor(request);
        var f = statement.Field;

        // Whose statement: the registration if it is an enrolment this key may see, else the account.
        var candidates = new List<StoredEnrolment>();
        var enrolmentField = f + "context.registration";
        var school = statement.Account is { } account ? SchoolOf(account.HomePage, baseUrl) : null;
        if (statement.Registration is { } registration && subjects.Enrolment(registration) is { } registered &&
            EnrolmentAccess.Allows(caller, registered.State.SchoolUrn, Scopes.Lms))
        {
            if (school is not null && (school != registered.State.SchoolUrn || statement.Account!.Name != registered.State.Staff.ExternalId))
            {
                return Refused(f + "actor.account", "names a different person from the enrolment in context.registration.", StatusCodes.Status422UnprocessableEntity);
            }

            candidates.Add(registered);
        }
        else if (school is not null)
        {
            enrolmentField = f + "actor.account";
            if (EnrolmentAccess.Allows(caller, school, Scopes.Lms))
            {
                candidates.AddRange(subjects.EnrolmentsOf(school, statement.Account!.Name));
            }
        }

        if (progress == Progress.None)
        {
            // Stored and otherwise ignored; kept with the enrolment when it is plain whose it is.
            return new StatementMeaning(candidates.Count == 1 ? candidates[0].State.Id : null, null, enrolmentField);
        }

        if (candidates.Count == 0)
        {
            return (statement.Registration, school) switch
            {
                (_, not null) => Refused(enrolmentField, $"nobody with externalId '{statement.Account!.Name}' is enrolled at school {school}.",
                    StatusCodes.Status404NotFound),
                (not null, _) => Refused(enrolmentField, $"no enrolment '{statement.Registration}' was found.", StatusCodes.Status404NotFound),
                _ => Refused(f + "actor",
                    $"does not say whose progress this is: give context.registration (the enrolment id) or an account {{\"homePage\": \"{baseUrl}/schools/<URN>\", \"name\": \"<externalId>\"}}.",
                    StatusCodes.Status422UnprocessableEntity),
            };
        }

        var when = statement.Timestamp ?? now;
        StatementMeaning? first = null;
        var matches = new List<StatementMeaning>();
        foreach (var enrolment in candidates)
        {
            var meaning = progress == Progress.Module
                ? await ModuleAsync(statement, enrolment, baseUrl, when, enrolmentField, ct)
                : await SessionAsync(subjects, statement, enrolment, baseUrl, when, now, enrolmentField, ct);
            first ??= meaning;
            if (meaning.Problem is null)
            {
                matches.Add(meaning);
            }
        }

        return matches.Count switch
        {
            1 => matches[0],
            0 => first!,
            _ => Refused(f + "context.registration",
                "is needed: the activity belongs to more than one of this person's enrolments; give the enrolment id as the registration.",
                StatusCodes.Status422UnprocessableEntity),
        };
    }

    private async Task<StatementMeaning> ModuleAsync(XapiStatement statement, StoredEnrolment enrolment, string baseUrl, DateTimeOffset when,
        string enrolmentField, CancellationToken ct)
    {
        var activity = statement.ActivityId!;
        var field = statement.Field + "object.id";
        var programmeId = enrolment.State.ProgrammeId;
        if (SessionOf(activity, baseUrl) is not null)
        {
            return Refused(field, "is a live session: report attendance with the verb attended.", StatusCodes.Status422UnprocessableEntity);
        }

        string? moduleId;
        if (ModuleOf(activity, baseUrl) is var (programme, module))
        {
            if (programme != programmeId)
            {
                return Refused(field, $"is a module of programme '{programme}'; this enrolment is on '{programmeId}'.", StatusCodes.Status422UnprocessableEntity);
            }

            moduleId = module;
        }
        else
        {
            // The enrolment's own version first; an activity IRI added in a later version counts for a module it also has.
            var pinned = await programmes.GetVersionAsync(programmeId, enrolment.State.ProgrammeVersion, ct);
            var current = await programmes.GetCurrentAsync(programmeId, ct);
            moduleId = ModuleWithActivity(pinned.Definition, activity) ?? (current is null ? null : ModuleWithActivity(current.Definition, activity));
            if (moduleId is null)
            {
                return Refused(field,
                    $"is not an activity of programme '{programmeId}': use {baseUrl}/programmes/{programmeId}/modules/<moduleId> or one of a module's activityIds.",
                    StatusCodes.Status422UnprocessableEntity);
            }
        }

        return new StatementMeaning(enrolment.State.Id, new ModuleCompleted(moduleId, when), enrolmentField);
    }

    private async Task<StatementMeaning> SessionAsync(StatementSubjects subjects, XapiStatement statement, StoredEnrolment enrolment, string baseUrl,
        DateTimeOffset when, DateTimeOffset now, string enrolmentField, CancellationToken ct)
    {
        var activity = statement.ActivityId!;
        var field = statement.Field + "object.id";
        if (SessionOf(activity, baseUrl) is not { } sessionId)
        {
            var pinned = await programmes.GetVersionAsync(enrolment.State.ProgrammeId, enrolment.State.ProgrammeVersion, ct);
            return ModuleOf(activity, baseUrl) is not null || ModuleWithActivity(pinned.Definition, activity) is not null
                ? Refused(field, "is a module: report it with the verb completed or passed.", StatusCodes.Status422UnprocessableEntity)
                : Refused(field, $"is not a live session's activity: use {baseUrl}/sessions/<sessionId>.", StatusCodes.Status422UnprocessableEntity);
        }

        var session = await subjects.SessionAsync(sessionId);
        if (session is null)
        {
            return Refused(field, $"no live session '{sessionId}' exists.", StatusCodes.Status422UnprocessableEntity);
        }

        if (session.ProgrammeId != enrolment.State.ProgrammeId)
        {
            return Refused(field, $"the session is for programme '{session.ProgrammeId}'; this enrolment is on '{enrolment.State.ProgrammeId}'.",
                StatusCodes.Status422UnprocessableEntity);
        }

        if (now < session.StartsAt)
        {
            return Refused(field, "the session has not started yet; report attendance once it has.", StatusCodes.Status409Conflict);
        }

        if (when < session.StartsAt)
        {
            // Attendance dated before the session could complete an enrolment by a deadline the session itself missed.
            return Refused(statement.Field + "timestamp", $"is before the session started ({session.StartsAt:O}).", StatusCodes.Status422UnprocessableEntity);
        }

        // As the register does: attendance counts from no later than the session's end, whenever it is reported.
        var attendedAt = when < session.EndsAt ? when : session.EndsAt;
        return new StatementMeaning(enrolment.State.Id, new SessionAttended(sessionId, attendedAt), enrolmentField);
    }

    private static string? ModuleWithActivity(ProgrammeDefinition programme, string activity) =>
        programme.Modules.FirstOrDefault(m => m.ActivityIds.Contains(activity, StringComparer.Ordinal))?.Id;

    /// <summary><c>&lt;base&gt;/programmes/&lt;programmeId&gt;/modules/&lt;moduleId&gt;</c>, compared exactly (IRIs are compared as strings).</summary>
    private static (string Programme, string Module)? ModuleOf(string activity, string baseUrl)
    {
        var prefix = baseUrl + "/programmes/";
        if (!activity.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = activity[prefix.Length..].Split('/');
        return parts is [var programme, "modules", var module] && programme.Length > 0 && module.Length > 0 ? (programme, module) : null;
    }

    private static string? SessionOf(string activity, string baseUrl) => Segment(activity, baseUrl + "/sessions/");

    private static string? SchoolOf(string homePage, string baseUrl) =>
        Segment(homePage.TrimEnd('/'), baseUrl + "/schools/") is { } urn && Scopes.SchoolUrnPattern().IsMatch(urn) ? urn : null;

    private static string? Segment(string iri, string prefix) =>
        iri.StartsWith(prefix, StringComparison.Ordinal) && iri[prefix.Length..] is { Length: > 0 } rest && !rest.Contains('/') ? rest : null;

    private static StatementMeaning Refused(string field, string message, int status)
    {
        var problem = status == StatusCodes.Status409Conflict ? Problems.Conflict(field, message) : Problems.Field(field, message, status);
        if (status == StatusCodes.Status404NotFound)
        {
            problem.ProblemDetails.Title = "The enrolment was not found.";
        }

        return new StatementMeaning(null, null, field, problem);
    }
}

/// <summary>
/// The enrolments a batch of statements may be about, read once for the whole batch
/// (<see cref="StatementProgress.SubjectsAsync"/>), and the live sessions they name, read when first asked for.
/// </summary>
public sealed class StatementSubjects
{
    private readonly IStoreTransaction _tx;
    private readonly Dictionary<Guid, StoredEnrolment> _byId = [];
    private readonly Dictionary<(string SchoolUrn, string ExternalId), List<StoredEnrolment>> _byPerson = [];
    private readonly Dictionary<string, LiveSession?> _sessions = new(StringComparer.Ordinal);

    public StatementSubjects(IStoreTransaction tx, IEnumerable<StoredEnrolment> enrolments)
    {
        _tx = tx;
        foreach (var enrolment in enrolments)
        {
            var state = enrolment.State;
            _byId[state.Id] = enrolment;
            var person = (state.SchoolUrn, state.Staff.ExternalId);
            if (!_byPerson.TryGetValue(person, out var theirs))
            {
                _byPerson[person] = theirs = [];
            }

            theirs.Add(enrolment);
        }

        // A person's enrolments in programme order, as the store lists them.
        foreach (var theirs in _byPerson.Values)
        {
            theirs.Sort((a, b) => string.CompareOrdinal(a.State.ProgrammeId, b.State.ProgrammeId));
        }
    }

    public IEnumerable<StoredEnrolment> Enrolments => _byId.Values;

    public StoredEnrolment? Enrolment(Guid id) => _byId.GetValueOrDefault(id);

    public IReadOnlyList<StoredEnrolment> EnrolmentsOf(string schoolUrn, string externalId) =>
        _byPerson.TryGetValue((schoolUrn, externalId), out var theirs) ? theirs : [];

    public async Task<LiveSession?> SessionAsync(string id)
    {
        if (!_sessions.TryGetValue(id, out var session))
        {
            _sessions[id] = session = await _tx.GetSessionAsync(id);
        }

        return session;
    }
}
