using System.Net;
using System.Text.Json;
using SendWorkflows.Preferences;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Preferences;

/// <summary>
/// Reminders reach people through the outbox with a signed preferences link and RFC 8058 one-click
/// unsubscribe headers; the page works as plain HTML; anything but a token we signed is a 404.
/// </summary>
public sealed class PreferenceEndpointTests
{
    private static readonly DateTimeOffset MondayWeekLater = ManualClock.Monday9am.AddDays(7);

    [Fact]
    public async Task a_reminder_carries_list_unsubscribe_and_one_click_turns_reminders_off_for_good()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-1");
        Assert.Equal(MondayWeekLater, (await app.GetEnrolmentAsync(id)).GetProperty("nextNudgeAt").GetDateTimeOffset());

        app.Clock.Advance(TimeSpan.FromDays(7));
        await app.TickAsync();

        var welcome = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "welcome")));
        Assert.DoesNotContain("\r\nList-Unsubscribe:", welcome, StringComparison.Ordinal); // transactional: no unsubscribe
        var reminder = File.ReadAllText(Assert.Single(app.OutboxFilesFor(id, "not-started")));
        var unsubscribe = Eml.Header(reminder, "List-Unsubscribe");
        Assert.Matches("^<https://send\\.example\\.org/preferences/[A-Za-z0-9_-]{44}>$", unsubscribe);
        Assert.Equal("List-Unsubscribe=One-Click", Eml.Header(reminder, "List-Unsubscribe-Post"));
        var url = unsubscribe.Trim('<', '>');
        Assert.Contains(url, Eml.Part(reminder, "text/plain"), StringComparison.Ordinal);
        Assert.Contains($"href=\"{url}\"", Eml.Part(reminder, "text/html"), StringComparison.Ordinal);
        Assert.Contains("Inclusion and the SEND Code of Practice", Eml.Part(reminder, "text/plain"), StringComparison.Ordinal);

        // What a mailbox provider sends when the person presses its unsubscribe button (RFC 8058 §3.1).
        var path = new Uri(url).AbsolutePath;
        var response = await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var status = await app.GetEnrolmentAsync(id);
        Assert.True(status.GetProperty("remindersOff").GetBoolean());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("nextNudgeAt").ValueKind);
        app.Clock.Advance(TimeSpan.FromDays(60));
        await app.TickAsync();
        Assert.Single(app.OutboxFilesFor(id, "not-started"));
        Assert.Empty(app.OutboxFilesFor(id, "deadline"));
    }

    [Fact]
    public async Task the_page_shows_progress_without_the_email_address_and_its_form_turns_reminders_off_and_on()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-2");
        var path = PathFor(app, id);

        var page = await app.Anonymous().GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-store", page.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("Hello Zoë.", System.Net.WebUtility.HtmlDecode(html), StringComparison.Ordinal);
        Assert.Contains("Early identification of need: not completed yet", html, StringComparison.Ordinal);
        Assert.DoesNotContain("@", html, StringComparison.Ordinal); // no address, not even in the form
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<form method=\"post\">", html, StringComparison.Ordinal);
        Assert.Contains("value=\"on\" checked", html, StringComparison.Ordinal);

        var off = await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("reminders", "off")]));
        Assert.Contains("Saved: reminders are off", await off.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True((await app.GetEnrolmentAsync(id)).GetProperty("remindersOff").GetBoolean());

        var on = await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("reminders", "on")]));
        Assert.Contains("value=\"on\" checked", await on.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False((await app.GetEnrolmentAsync(id)).GetProperty("remindersOff").GetBoolean());
        Assert.Equal(2, app.Count("enrolment_events", "type = 'preferences_changed'"));
    }

    [Theory]
    [InlineData("not-a-token")]
    [InlineData("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // the right shape, not signed by us
    [InlineData("%2e%2e%2fetc%2fpasswd")]
    [InlineData("AQGiA41ajHS9vHH4GfDIIQWb6dzmkSbYG8-N41hLj-V-AAAA")] // too long
    public async Task anything_but_a_token_we_signed_is_not_found_and_changes_nothing(string token)
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-3");
        var json = app.Anonymous();
        json.DefaultRequestHeaders.Accept.ParseAdd("application/json");

        await Problem.AssertAsync(await json.GetAsync($"/preferences/{token}"), HttpStatusCode.NotFound, "token");
        await Problem.AssertAsync(await json.PostAsync($"/preferences/{token}", new FormUrlEncodedContent([new("reminders", "off")])),
            HttpStatusCode.NotFound, "token");
        var browser = await app.Anonymous().GetAsync($"/preferences/{token}");
        Assert.Equal(HttpStatusCode.NotFound, browser.StatusCode);
        Assert.Contains("This link is not recognised", await browser.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, app.Count("enrolment_events", "type = 'preferences_changed'"));
    }

    [Fact]
    public async Task a_token_with_one_character_changed_is_not_found()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-4");
        var path = PathFor(app, id);
        var tampered = path[..^1] + (path[^1] == 'A' ? 'B' : 'A');
        Assert.Equal(HttpStatusCode.NotFound, (await app.Anonymous().GetAsync(tampered)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Anonymous().GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task a_post_that_is_not_our_form_is_refused_naming_what_is_wrong()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-5");
        var path = PathFor(app, id);

        await Problem.AssertAsync(await app.Anonymous().PostAsync(path, new StringContent("{\"reminders\":\"off\"}", System.Text.Encoding.UTF8, "application/json")),
            HttpStatusCode.UnsupportedMediaType, "Content-Type");
        await Problem.AssertAsync(await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("reminders", "maybe")])),
            HttpStatusCode.BadRequest, "reminders");
        await Problem.AssertAsync(await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("List-Unsubscribe", "Two-Clicks")])),
            HttpStatusCode.BadRequest, "reminders");
        await Problem.AssertAsync(await app.Anonymous().PostAsync(path, new FormUrlEncodedContent([new("reminders", new string('x', 5000))])),
            HttpStatusCode.BadRequest, "body");
        Assert.False((await app.GetEnrolmentAsync(id)).GetProperty("remindersOff").GetBoolean());
        Assert.Equal(0, app.Count("enrolment_events", "type = 'preferences_changed'"));
    }

    [Fact]
    public async Task a_reminder_decided_before_the_person_withdrew_is_cancelled_not_sent()
    {
        await using var app = new TestApp();
        var id = await app.EnrolAsync("T-6");
        app.Clock.Advance(TimeSpan.FromDays(7));
        await app.Service<SendWorkflows.Workflow.EnrolmentWorkflow>().FireDueTimersAsync(100, CancellationToken.None);
        Assert.Equal(1, app.Count("outbox", "template = 'not-started' AND status = 'pending'"));

        (await app.Admin().PostAsync($"/api/v1/enrolments/{id}/withdrawal", JsonContent("{\"reason\":\"left\"}"))).EnsureSuccessStatusCode();
        await app.TickAsync();

        Assert.Empty(app.OutboxFilesFor(id, "not-started"));
        Assert.Equal(1, app.Count("outbox", "template = 'not-started' AND status = 'cancelled' AND last_error LIKE '%withdrawn%'"));
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static string PathFor(TestApp app, string enrolmentId) =>
        "/preferences/" + app.Service<PreferenceTokens>().Create(PreferenceSubject.Enrolment, Guid.Parse(enrolmentId));
}
