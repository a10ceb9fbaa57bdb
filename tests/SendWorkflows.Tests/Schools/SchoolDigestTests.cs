using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Schools;
using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Schools;

/// <summary>
/// The weekly digest, end to end: the real app on a real SQLite file with a manual clock, digests
/// read back from the outbox folder. The default schedule is Mondays at 07:00 in London, which in
/// November is 07:00 UTC.
/// </summary>
public sealed class SchoolDigestTests
{
    private const string SchoolA = "100004";
    private const string SchoolB = "100005";

    /// <summary>A Monday, after that week's digest moment.</summary>
    private static readonly DateTimeOffset Monday2Nov = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    private static readonly string[] OnlineModules =
    [
        "inclusion-send-code", "identification", "adaptive-teaching", "speech-language-communication",
        "visual-impairment", "assistive-technology", "parents-and-carers",
    ];

    private static string StaffEmail(string externalId, string school) => $"{externalId.ToLowerInvariant()}@school{school}.example.org";

    private static async Task<string> EnrolAsync(TestApp app, string externalId, string givenName, string familyName,
        string school = SchoolA, string programme = TestApp.Programme, string role = "teacher")
    {
        var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", new
        {
            programmeId = programme, schoolUrn = school,
            staff = new { externalId, givenName, familyName, email = StaffEmail(externalId, school), role },
        });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static async Task CompleteAsync(TestApp app, string id, params string[] modules)
    {
        foreach (var module in modules)
        {
            (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/modules/{module}/completion", null)).EnsureSuccessStatusCode();
        }
    }

    private static Task AddContactAsync(TestApp app, string school, string name, string email) =>
        SchoolContactEndpointTests.AddContactAsync(app.Admin(), school, name, email);

    private static string[] Digests(TestApp app) => app.OutboxFiles(SchoolDigest.Template);

    private static string[] DigestsTo(TestApp app, string email) =>
        Digests(app).Where(f => Eml.To(File.ReadAllText(f)).Address == email).ToArray();

    private static string Text(string file) => Eml.Part(File.ReadAllText(file), "text/plain").ReplaceLineEndings("\n");

    private static string Html(string file) => Eml.Part(File.ReadAllText(file), "text/html").ReplaceLineEndings("\n");

    /// <summary>Everyone in <paramref name="names"/> is listed, in that order.</summary>
    private static void AssertListedInOrder(string text, params string[] names)
    {
        var positions = names.Select(n => (Name: n, At: text.IndexOf(n, StringComparison.Ordinal))).ToList();
        Assert.All(positions, p => Assert.True(p.At >= 0, $"{p.Name} should be listed:\n{text}"));
        Assert.Equal(positions.OrderBy(p => p.At).Select(p => p.Name), names);
    }

    [Fact]
    public async Task the_digest_tells_each_contact_who_is_behind_and_why_nearest_deadline_first()
    {
        await using var app = new TestApp(clock: new ManualClock(Monday2Nov));
        await app.PublishSmallProgrammeAsync("short", window: "P20D");
        await app.PublishSmallProgrammeAsync("shorter", window: "P10D");
        await app.PublishSmallProgrammeAsync("no-live", liveSessions: 0);
        await AddContactAsync(app, SchoolA, "Gráinne Head", "head@school100004.example.org");
        await AddContactAsync(app, SchoolA, "Sunita Senco", "senco@school100004.example.org");
        await AddContactAsync(app, SchoolB, "Bea Head", "head@school100005.example.org");

        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        await CompleteAsync(app, await EnrolAsync(app, "A-OMAR", "Omar", "Bell", role: "teaching_assistant"), "identification");
        await CompleteAsync(app, await EnrolAsync(app, "A-PRIYA", "Priya", "Chen", role: "leader"), OnlineModules);
        var booked = await EnrolAsync(app, "A-QUINN", "Quinn", "Davies");
        await CompleteAsync(app, booked, OnlineModules);
        await app.PutSessionAsync("leeds-december", TestApp.Programme, TimeSpan.FromDays(30), capacity: 30);
        (await app.Admin().PostAsJsonAsync("/api/v1/sessions/leeds-december/bookings", new { enrolmentId = booked })).EnsureSuccessStatusCode();
        var progressing = await EnrolAsync(app, "A-RHYS", "Rhys", "Evans");
        await CompleteAsync(app, await EnrolAsync(app, "A-SAM", "Sam", "Foster", programme: "no-live"), "m1", "m2");
        var withdrawn = await EnrolAsync(app, "A-TARA", "Tara", "Green");
        (await app.Admin().PostAsync($"/api/v1/enrolments/{withdrawn}/withdrawal", null)).EnsureSuccessStatusCode();
        var bounced = await EnrolAsync(app, "A-UMA", "Uma", "Hughes", role: "support_staff");
        var soon = await EnrolAsync(app, "A-VIC", "Vic", "Irwin", programme: "short");
        await EnrolAsync(app, "A-WYN", "Wyn", "Jones", programme: "shorter");
        await EnrolAsync(app, "B-XENA", "Xena", "Kowalski", school: SchoolB);

        app.Clock.Advance(TimeSpan.FromDays(10));
        await CompleteAsync(app, progressing, "identification");
        await CompleteAsync(app, bounced, "identification");
        await CompleteAsync(app, soon, "m1");
        await app.Service<EnrolmentWorkflow>().ApplyAsync(Guid.Parse(bounced), new EmailBounced(StaffEmail("A-UMA", SchoolA), "mailbox does not exist"), CancellationToken.None);

        app.Clock.Set(Monday2Nov.AddDays(14));
        await app.TickAsync();

        Assert.Equal(3, Digests(app).Length);
        var forHead = Assert.Single(DigestsTo(app, "head@school100004.example.org"));
        var forSenco = Assert.Single(DigestsTo(app, "senco@school100004.example.org"));
        var text = Text(forHead);
        // The same list for both; only the greeting and each lead's own stop link differ.
        static string WithoutLink(string t) => System.Text.RegularExpressions.Regex.Replace(t, "/preferences/[A-Za-z0-9_-]+", "/preferences/…");
        Assert.NotEqual(Eml.Header(File.ReadAllText(forHead), "List-Unsubscribe"), Eml.Header(File.ReadAllText(forSenco), "List-Unsubscribe"));
        Assert.Equal(WithoutLink(text), WithoutLink(Text(forSenco).Replace("Dear Sunita Senco,", "Dear Gráinne Head,", StringComparison.Ordinal)));
        Assert.Contains("Dear Gráinne Head,", text, StringComparison.Ordinal);
        Assert.Contains("for the week of 16 November 2026", text, StringComparison.Ordinal);
        Assert.Contains("6 people are behind with their training", text, StringComparison.Ordinal);
        Assert.Equal("SEND and inclusion training at school 100004: 6 people are behind", Eml.Header(File.ReadAllText(forHead), "Subject"));

        AssertListedInOrder(text, "Wyn Jones", "Vic Irwin", "Nia Adebayo", "Omar Bell", "Priya Chen", "Uma Hughes");
        Assert.Contains("Wyn Jones, Teacher\nWhy: The deadline passed before they finished.\nDeadline: 12 November 2026", text, StringComparison.Ordinal);
        Assert.Contains("Vic Irwin, Teacher\nWhy: Not finished yet, and the deadline is less than two weeks away.\nDeadline: 22 November 2026", text, StringComparison.Ordinal);
        Assert.Contains("Nia Adebayo, Teacher\nWhy: Has not started since being enrolled on 2 November 2026.\nDeadline: 3 May 2027", text, StringComparison.Ordinal);
        Assert.Contains("Omar Bell, Teaching assistant\nWhy: No progress since 2 November 2026.", text, StringComparison.Ordinal);
        Assert.Contains("Priya Chen, Leader\nWhy: Finished the online modules on 2 November 2026 but has no live session booked.", text, StringComparison.Ordinal);
        Assert.Contains("Uma Hughes, Support staff\nWhy: Our emails to them cannot be delivered.", text, StringComparison.Ordinal);
        Assert.Contains("https://send.example.org/api/v1/schools/100004/report", text, StringComparison.Ordinal);
        Assert.DoesNotContain("more are in", text, StringComparison.Ordinal);

        // Booked, progressing, completed and withdrawn people are not behind; school B's are not A's business.
        foreach (var name in new[] { "Quinn Davies", "Rhys Evans", "Sam Foster", "Tara Green", "Xena Kowalski" })
        {
            Assert.DoesNotContain(name, File.ReadAllText(forHead), StringComparison.Ordinal);
            Assert.DoesNotContain(name, Html(forHead), StringComparison.Ordinal);
        }

        // Names, roles, reasons and deadlines only: never a member of staff's email address.
        foreach (var person in new[] { "A-NIA", "A-OMAR", "A-PRIYA", "A-UMA", "A-VIC", "A-WYN" })
        {
            Assert.DoesNotContain(StaffEmail(person, SchoolA), File.ReadAllText(forHead), StringComparison.OrdinalIgnoreCase);
        }

        var html = Html(forHead);
        Assert.Contains("<html lang=\"en\">", html, StringComparison.Ordinal);
        Assert.Contains("<caption", html, StringComparison.Ordinal);
        Assert.Equal(4, html.Split("<th scope=\"col\"").Length - 1);
        Assert.Contains(">Wyn Jones</th>", html, StringComparison.Ordinal);
        Assert.Contains("<td style=\"padding: 8px 16px 8px 0; border-bottom: 1px solid #b1b4b6;\">The deadline passed before they finished.</td>", html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://send.example.org/api/v1/schools/100004/report\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("X-SendWorkflows-Enrolment", File.ReadAllText(forHead), StringComparison.Ordinal);

        var forB = Text(Assert.Single(DigestsTo(app, "head@school100005.example.org")));
        Assert.Contains("1 person is behind", forB, StringComparison.Ordinal);
        Assert.Contains("Xena Kowalski, Teacher\nWhy: Has not started since being enrolled on 2 November 2026.", forB, StringComparison.Ordinal);
        foreach (var name in new[] { "Nia Adebayo", "Omar Bell", "Priya Chen", "Uma Hughes", "Vic Irwin", "Wyn Jones" })
        {
            Assert.DoesNotContain(name, forB, StringComparison.Ordinal);
        }

        Assert.Equal(1, app.Count("school_digests", $"school_urn = '{SchoolA}' AND week_start = '2026-11-16' AND people_behind = 6 AND emails = 2"));
        Assert.Equal(1, app.Count("school_digests", $"school_urn = '{SchoolB}' AND week_start = '2026-11-16' AND people_behind = 1 AND emails = 1"));
    }

    [Fact]
    public async Task a_digest_goes_out_once_a_week_at_its_moment_never_before_and_again_the_next_week()
    {
        await using var app = new TestApp(clock: new ManualClock(new DateTimeOffset(2026, 11, 2, 6, 0, 0, TimeSpan.Zero)));
        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        await app.TickAsync();

        // A week later Nia has not started, but it is a second before the digest's moment.
        app.Clock.Set(new DateTimeOffset(2026, 11, 9, 6, 59, 59, TimeSpan.Zero));
        await app.TickAsync();
        Assert.Empty(Digests(app));
        Assert.Equal(0, app.Count("school_digests"));

        app.Clock.Set(new DateTimeOffset(2026, 11, 9, 7, 0, 0, TimeSpan.Zero));
        await app.TickAsync();
        var first = Assert.Single(Digests(app));
        Assert.Contains("Nia Adebayo", Text(first), StringComparison.Ordinal);

        foreach (var later in new[] { TimeSpan.FromSeconds(1), TimeSpan.FromHours(3), TimeSpan.FromDays(2), TimeSpan.FromDays(7) - TimeSpan.FromSeconds(1) })
        {
            app.Clock.Set(new DateTimeOffset(2026, 11, 9, 7, 0, 0, TimeSpan.Zero) + later);
            await app.TickAsync();
        }

        Assert.Single(Digests(app));

        app.Clock.Set(new DateTimeOffset(2026, 11, 16, 7, 0, 0, TimeSpan.Zero));
        await app.TickAsync();
        await app.TickAsync();
        Assert.Equal(2, Digests(app).Length);
        Assert.Contains("for the week of 16 November 2026", Text(Digests(app)[1]), StringComparison.Ordinal);
        Assert.Equal(["2026-11-09", "2026-11-16"], app.Text("SELECT string_agg(CAST(week_start AS TEXT), ',' ORDER BY week_start) FROM school_digests")!.Split(','));
    }

    [Fact]
    public async Task a_lead_can_stop_the_digest_with_one_click_and_gets_no_more()
    {
        await using var app = new TestApp(clock: new ManualClock(new DateTimeOffset(2026, 11, 2, 6, 0, 0, TimeSpan.Zero)));
        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        app.Clock.Set(new DateTimeOffset(2026, 11, 9, 7, 0, 0, TimeSpan.Zero));
        await app.TickAsync();

        var digest = File.ReadAllText(Assert.Single(Digests(app)));
        var url = Eml.Header(digest, "List-Unsubscribe").Trim('<', '>');
        Assert.Equal("List-Unsubscribe=One-Click", Eml.Header(digest, "List-Unsubscribe-Post"));
        Assert.Contains(url, Eml.Part(digest, "text/plain"), StringComparison.Ordinal);
        var page = await app.Anonymous().GetStringAsync(new Uri(url).AbsolutePath);
        Assert.Contains("school 100004", page, StringComparison.Ordinal);
        Assert.DoesNotContain("head@", page, StringComparison.Ordinal);

        var response = await app.Anonymous().PostAsync(new Uri(url).AbsolutePath, new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, app.Count("school_contacts"));
        Assert.Contains("You will not get the weekly summary", await app.Anonymous().GetStringAsync(new Uri(url).AbsolutePath), StringComparison.Ordinal);

        app.Clock.Set(new DateTimeOffset(2026, 11, 16, 7, 0, 0, TimeSpan.Zero));
        await app.TickAsync();
        Assert.Single(Digests(app));
    }

    [Fact]
    public async Task a_school_where_nobody_is_behind_gets_no_email_that_week()
    {
        await using var app = new TestApp(clock: new ManualClock(Monday2Nov));
        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        var keen = await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        app.Clock.Advance(TimeSpan.FromDays(7));
        await CompleteAsync(app, keen, "identification");

        await app.TickAsync();
        await app.TickAsync();

        Assert.Empty(Digests(app));
        Assert.Equal(1, app.Count("school_digests", "week_start = '2026-11-09' AND people_behind = 0 AND emails = 0"));
        Assert.Equal(0, app.Count("outbox", $"template = '{SchoolDigest.Template}'"));
    }

    [Fact]
    public async Task a_school_whose_first_contact_is_added_after_the_weeks_digests_gets_its_digest_that_week()
    {
        await using var app = new TestApp(clock: new ManualClock(Monday2Nov));
        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        app.Clock.Advance(TimeSpan.FromDays(7));
        await app.TickAsync(); // the week's digests are done: no school has a contact yet

        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        await app.TickAsync();

        Assert.Contains("Nia Adebayo", Text(Assert.Single(Digests(app))), StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_contact_registered_through_another_instance_is_noticed_within_the_hour()
    {
        await using var app = new TestApp(clock: new ManualClock(Monday2Nov));
        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        app.Clock.Advance(TimeSpan.FromDays(7));
        await app.TickAsync(); // the week's digests are done: no school has a contact yet

        // Another instance, sharing the database, registers a contact this one does not hear about.
        app.Execute(
            $"INSERT INTO school_contacts (id, school_urn, name, email, created_at) VALUES ('{Guid.NewGuid()}', '{SchoolA}', 'Head', 'head@school100004.example.org', 0)");
        app.Clock.Advance(TimeSpan.FromMinutes(59));
        await app.TickAsync();
        Assert.Empty(Digests(app));

        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await app.TickAsync();
        Assert.Contains("Nia Adebayo", Text(Assert.Single(Digests(app))), StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_long_list_stops_at_two_hundred_people_and_points_to_the_school_report()
    {
        await using var app = new TestApp(clock: new ManualClock(Monday2Nov));
        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        var people = Enumerable.Range(0, 203).Select(i => TestApp.Person($"A-{i:D3}")).ToArray();
        (await app.Admin().PostAsJsonAsync("/api/v1/enrolments/batch", people)).EnsureSuccessStatusCode();
        app.Clock.Advance(TimeSpan.FromDays(7));

        await app.TickAsync();

        var text = Text(Assert.Single(Digests(app)));
        Assert.Contains("203 people are behind", text, StringComparison.Ordinal);
        Assert.Equal(200, text.Split("\nWhy: ").Length - 1);
        Assert.Contains("This email lists the 200 with the nearest deadlines; the other 3 are in the school report.", text, StringComparison.Ordinal);
        Assert.Contains("https://send.example.org/api/v1/schools/100004/report", text, StringComparison.Ordinal);
        Assert.Equal(1, app.Count("school_digests", "people_listed = 200 AND people_behind = 203"));
    }

    [Fact]
    public async Task an_idle_tick_reads_once_whether_the_digest_is_not_yet_due_or_already_done()
    {
        await using var real = await TestStore.OpenNewAsync();
        var (store, recorder) = RecordingStore.Wrap(real.Store);
        await using var app = new TestApp(real.Root, new ManualClock(new DateTimeOffset(2026, 11, 2, 6, 0, 0, TimeSpan.Zero)),
            services: s => s.AddSingleton(store));
        await AddContactAsync(app, SchoolA, "Head", "head@school100004.example.org");
        await EnrolAsync(app, "A-NIA", "Nia", "Adebayo");
        await app.Pump.RunOnceAsync(CancellationToken.None); // sends the welcome
        recorder.TakeCalls();

        // Before the week's moment.
        await app.Pump.RunOnceAsync(CancellationToken.None);
        Assert.Equal([nameof(IWorkflowStore.HasDueWorkAsync)], recorder.TakeCalls());

        app.Clock.Set(new DateTimeOffset(2026, 11, 2, 7, 0, 0, TimeSpan.Zero));
        await app.Pump.RunOnceAsync(CancellationToken.None);
        Assert.Contains(nameof(IWorkflowStore.SchoolsAwaitingDigestAsync), recorder.TakeCalls());
        Assert.Equal(1, app.Count("school_digests"));

        // After the week's digests are done.
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await app.Pump.RunOnceAsync(CancellationToken.None);
        Assert.Equal([nameof(IWorkflowStore.HasDueWorkAsync)], recorder.TakeCalls());
    }

    [Fact]
    public async Task a_second_worker_that_still_sees_a_school_as_due_after_the_first_sent_its_digest_sends_nothing()
    {
        var root = Directory.CreateTempSubdirectory("sendworkflows-digest-").FullName;
        try
        {
            var clock = new ManualClock(Monday2Nov);
            await using (var first = new TestApp(root, clock))
            {
                await AddContactAsync(first, SchoolA, "Head", "head@school100004.example.org");
                await EnrolAsync(first, "A-NIA", "Nia", "Adebayo");
                clock.Advance(TimeSpan.FromDays(7));
                await first.TickAsync();
                Assert.Single(Digests(first));
            }

            // The second worker read the schools still due just before the first committed.
            await using var real = await TestStore.OpenAsync(root);
            var (store, _) = RecordingStore.Wrap(real.Store, (method, args) =>
                method.Name == nameof(IWorkflowStore.SchoolsAwaitingDigestAsync)
                    ? Task.FromResult<IReadOnlyList<string>>(args![1] is null ? [SchoolA] : [])
                    : null);
            await using var second = new TestApp(root, clock, services: s => s.AddSingleton(store));

            var decided = await second.Service<SchoolDigest>().SendDueAsync(() => true, CancellationToken.None);
            await second.TickAsync();

            Assert.Equal(0, decided);
            Assert.Single(Digests(second));
            Assert.Equal(1, second.Count("school_digests"));
            Assert.Equal(1, second.Count("outbox", $"template = '{SchoolDigest.Template}'"));
        }
        finally
        {
            TestStore.Remove(root);
        }
    }

    [Fact]
    public void the_week_and_its_moment_follow_the_configured_day_time_and_time_zone()
    {
        using var london = new TestApp();
        var digest = london.Service<SchoolDigest>();
        // British Summer Time: Monday 07:00 in London is 06:00 UTC.
        Assert.Equal((new DateOnly(2026, 6, 1), new DateTimeOffset(2026, 6, 1, 6, 0, 0, TimeSpan.Zero)),
            digest.WeekOf(new DateTimeOffset(2026, 6, 3, 12, 0, 0, TimeSpan.Zero)));
        // Sunday 23:30 in London is still that week; half an hour later by the UTC clock it is the next.
        Assert.Equal(new DateOnly(2026, 6, 1), digest.WeekOf(new DateTimeOffset(2026, 6, 7, 22, 30, 0, TimeSpan.Zero)).WeekStart);
        Assert.Equal(new DateOnly(2026, 6, 8), digest.WeekOf(new DateTimeOffset(2026, 6, 7, 23, 30, 0, TimeSpan.Zero)).WeekStart);

        using var newYork = new TestApp(settings: new()
        {
            ["Digest:DayOfWeek"] = "Wednesday", ["Digest:TimeOfDay"] = "16:30", ["Digest:TimeZone"] = "America/New_York",
        });
        Assert.Equal((new DateOnly(2026, 11, 2), new DateTimeOffset(2026, 11, 4, 21, 30, 0, TimeSpan.Zero)),
            newYork.Service<SchoolDigest>().WeekOf(new DateTimeOffset(2026, 11, 4, 21, 29, 0, TimeSpan.Zero)));
    }

    [Theory]
    [InlineData("Digest:TimeZone", "Mars/Olympus_Mons")]
    [InlineData("Digest:TimeOfDay", "1.07:00:00")]
    public void a_digest_setting_that_makes_no_sense_stops_the_service_starting(string key, string value)
    {
        using var app = new TestApp(settings: new() { [key] = value });
        var error = Assert.ThrowsAny<Exception>(() => app.Admin());
        Assert.Contains(key, error.ToString(), StringComparison.Ordinal);
    }
}
