using System.Globalization;
using Microsoft.Extensions.Options;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Schools;

/// <summary>When the weekly digest goes out, in the school's own time (configuration section <c>Digest</c>).</summary>
public sealed class DigestOptions
{
    public DayOfWeek DayOfWeek { get; set; } = DayOfWeek.Monday;

    /// <summary>Local time of day, in the .NET TimeSpan format of app settings (<c>07:00</c>).</summary>
    public TimeSpan TimeOfDay { get; set; } = TimeSpan.FromHours(7);

    /// <summary>An IANA time zone id.</summary>
    public string TimeZone { get; set; } = "Europe/London";
}

/// <summary>
/// Once a week, tells each school's contacts who is behind with their training and why. A week is
/// named by the local date of its Monday; once that week's moment has passed, each school with a
/// contact and no digest for the week gets one: its row in <c>school_digests</c> and one email per
/// contact are written in one transaction, and the row's key (school, week) makes it at most one
/// per school per week, however many ticks or workers race for it. A school with nobody behind gets
/// the row and no email.
/// </summary>
/// <remarks>
/// Called from every tick, so it must cost nothing when nothing is due: before the moment it reads
/// nothing, and once a week is done it remembers so and reads nothing more, until a contact is added
/// here or an hour has passed (a contact added through another instance is noticed within the hour).
/// </remarks>
public sealed class SchoolDigest
{
    public const string Template = "school-digest";

    /// <summary>More than this many people are summarised with a count and a link to the school report.</summary>
    public const int MaxPeopleListed = 200;

    private const int SchoolsPerRead = 100;
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan LookAgainAfter = TimeSpan.FromHours(1);

    private readonly IWorkflowStore _store;
    private readonly ProgrammeCatalogue _programmes;
    private readonly PublicUrls _urls;
    private readonly TimeProvider _clock;
    private readonly ILogger<SchoolDigest> _logger;
    private readonly DigestOptions _options;
    private readonly TimeZoneInfo _zone;

    private sealed record Done(DateOnly Week, long ContactChanges, DateTimeOffset Until);

    private Done? _done;
    private long _contactChanges;
    private DateTimeOffset _retryAfter = DateTimeOffset.MinValue;

    public SchoolDigest(IWorkflowStore store, ProgrammeCatalogue programmes, PublicUrls urls, TimeProvider clock,
        IOptions<DigestOptions> options, ILogger<SchoolDigest> logger)
    {
        _store = store;
        _programmes = programmes;
        _urls = urls;
        _clock = clock;
        _logger = logger;
        _options = options.Value;
        if (!Enum.IsDefined(_options.DayOfWeek))
        {
            throw new InvalidOperationException("Digest:DayOfWeek must be a day of the week, such as Monday.");
        }

        if (_options.TimeOfDay < TimeSpan.Zero || _options.TimeOfDay >= TimeSpan.FromDays(1))
        {
            throw new InvalidOperationException("Digest:TimeOfDay must be a time of day from 00:00 to 23:59.");
        }

        _zone = TimeZoneInfo.TryFindSystemTimeZoneById(_options.TimeZone, out var zone)
            ? zone
            : throw new InvalidOperationException($"Digest:TimeZone '{_options.TimeZone}' is not a known time zone; use an IANA id such as Europe/London.");
    }

    /// <summary>A contact was added: a school that had none may now be due this week.</summary>
    public void ContactsChanged() => Interlocked.Increment(ref _contactChanges);

    /// <summary>The week <paramref name="now"/> falls in (its Monday's local date), and when that week's digest is due.</summary>
    public (DateOnly WeekStart, DateTimeOffset DueAt) WeekOf(DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, _zone).DateTime);
        var monday = today.AddDays(-(((int)today.DayOfWeek + 6) % 7));
        var day = monday.AddDays(((int)_options.DayOfWeek + 6) % 7);
        return (monday, AtLocal(day.ToDateTime(TimeOnly.FromTimeSpan(_options.TimeOfDay))));
    }

    /// <summary>
    /// Decides the digests that are due, school by school, while <paramref name="inBudget"/> holds, and
    /// returns how many schools' digests were decided. A school whose digest cannot be made is logged
    /// and tried again a few minutes later; it holds up no other school.
    /// </summary>
    public async Task<int> SendDueAsync(Func<bool> inBudget, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        var (week, dueAt) = WeekOf(now);
        var changes = Interlocked.Read(ref _contactChanges);
        if (now < dueAt || now < _retryAfter || (_done is { } done && done.Week == week && done.ContactChanges == changes && now < done.Until))
        {
            return 0;
        }

        int decided = 0, emails = 0, failed = 0;
        try
        {
            string? after = null;
            while (inBudget())
            {
                var schools = await _store.SchoolsAwaitingDigestAsync(week, after, SchoolsPerRead, ct);
                if (schools.Count == 0)
                {
                    if (failed == 0)
                    {
                        _done = new Done(week, changes, now + LookAgainAfter);
                    }
                    else
                    {
                        _retryAfter = now + RetryAfterFailure;
                    }

                    break;
                }

                foreach (var urn in schools)
                {
                    if (!inBudget())
                    {
                        break;
                    }

                    after = urn;
                    try
                    {
                        if (await DecideAsync(urn, week, ct) is { } sent)
                        {
                            decided++;
                            emails += sent;
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        failed++;
                        _logger.LogError(e, "The weekly digest of school {SchoolUrn} for the week of {WeekStart:yyyy-MM-dd} could not be made; it will be tried again later.",
                            urn, week);
                    }
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // Whatever went wrong here must not stop the tick's sweep and outbox pass.
            _retryAfter = now + RetryAfterFailure;
            _logger.LogError(e, "Looking for weekly digests that are due failed; it will be tried again later.");
        }
        finally
        {
            if (decided > 0)
            {
                _logger.LogInformation("Weekly digests for the week of {WeekStart:yyyy-MM-dd}: {Schools} schools decided, {Emails} emails queued.",
                    week, decided, emails);
            }
        }

        return decided;
    }

    /// <summary>Makes one school's digest; the number of emails queued, or null if another worker made it first.</summary>
    private async Task<int?> DecideAsync(string urn, DateOnly week, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        var behind = new List<(DateTimeOffset Deadline, string FamilyName, string GivenName, IReadOnlyDictionary<string, string> Row)>();
        await foreach (var state in _store.UnfinishedEnrolmentsAsync(urn, ct))
        {
            var programme = (await _programmes.GetVersionAsync(state.ProgrammeId, state.ProgrammeVersion, ct)).Definition;
            if (WhoIsBehind.Assess(state, programme, now) is { } reason)
            {
                behind.Add((state.Deadline, state.Staff.FamilyName, state.Staff.GivenName, Row(state, programme, reason)));
            }
        }

        var listed = behind
            .OrderBy(b => b.Deadline)
            .ThenBy(b => b.FamilyName, StringComparer.Ordinal)
            .ThenBy(b => b.GivenName, StringComparer.Ordinal)
            .Take(MaxPeopleListed)
            .Select(b => b.Row)
            .ToList();

        await using var tx = await _store.BeginAsync(ct);
        IReadOnlyList<SchoolContact> contacts = behind.Count == 0 ? [] : await tx.SchoolContactsAsync(urn);
        var effects = contacts.Select(c => Email(c, urn, week, behind.Count, listed)).ToList();
        if (!await tx.InsertSchoolDigestAsync(new SchoolDigestRecord(urn, week, listed.Count, behind.Count, effects.Count, now)))
        {
            return null;
        }

        await tx.EnqueueEffectsAsync(null, effects, now);
        await tx.CommitAsync();
        return effects.Count;
    }

    /// <summary>What a lead needs to act: who, in what role, why, and by when. Never the person's email address.</summary>
    private Dictionary<string, string> Row(EnrolmentState state, ProgrammeDefinition programme, BehindReason reason) => new(StringComparer.Ordinal)
    {
        ["name"] = $"{state.Staff.GivenName} {state.Staff.FamilyName}".Trim(),
        ["role"] = RoleName(state.Staff.Role),
        ["reason"] = WhoIsBehind.Describe(reason, state, programme, _zone),
        ["deadline"] = WhoIsBehind.Date(state.Deadline, _zone),
    };

    private EmailEffect Email(SchoolContact contact, string urn, DateOnly week, int behind, IReadOnlyList<IReadOnlyDictionary<string, string>> rows)
    {
        var model = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["contactName"] = contact.Name,
            ["contactId"] = contact.Id.ToString(),
            ["schoolUrn"] = urn,
            ["weekOf"] = week.ToString("d MMMM yyyy", CultureInfo.InvariantCulture),
            ["summary"] = Behind(behind),
            ["reportUrl"] = $"{_urls.BaseFor(null)}/api/v1/schools/{urn}/report",
        };
        if (behind > rows.Count)
        {
            var others = behind - rows.Count;
            model["more"] = $"This email lists the {rows.Count.ToString("N0", CultureInfo.InvariantCulture)} with the nearest deadlines; " +
                            (others == 1 ? "the other one is" : $"the other {others.ToString("N0", CultureInfo.InvariantCulture)} are") +
                            " in the school report.";
        }

        return new EmailEffect(Template, $"digest:{urn}:{week:yyyy-MM-dd}:{contact.Id:N}", new EmailRecipient(contact.Email, contact.Name), model, rows);
    }

    /// <summary>"1 person is behind", "12 people are behind".</summary>
    private static string Behind(int count) =>
        $"{count.ToString("N0", CultureInfo.InvariantCulture)} {(count == 1 ? "person is" : "people are")} behind";

    public static string RoleName(StaffRole role) => role switch
    {
        StaffRole.Teacher => "Teacher",
        StaffRole.TeachingAssistant => "Teaching assistant",
        StaffRole.EarlyYearsPractitioner => "Early years practitioner",
        StaffRole.Lecturer => "Lecturer",
        StaffRole.Leader => "Leader",
        StaffRole.SupportStaff => "Support staff",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown role"),
    };

    /// <summary>
    /// The moment a local time names. A time skipped when the clocks go forward is taken as the first
    /// moment after the gap; a time that happens twice when they go back, as the first of the two.
    /// </summary>
    private DateTimeOffset AtLocal(DateTime local)
    {
        while (_zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(1);
        }

        var offset = _zone.IsAmbiguousTime(local) ? _zone.GetAmbiguousTimeOffsets(local).Max() : _zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset);
    }
}
