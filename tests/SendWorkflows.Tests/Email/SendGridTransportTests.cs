using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Email;
using SendWorkflows.Http;
using SendWorkflows.Preferences;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Email;

/// <summary>The sendgrid transport against a local server that holds it to the v3 Mail Send reference.</summary>
public sealed class SendGridTransportTests
{
    private static TestApp AppSendingTo(FakeSendGrid sendGrid, bool sandbox = false) =>
        new(settings: new()
        {
            ["Email:Transport"] = "sendgrid",
            ["SendGrid:ApiKey"] = FakeSendGrid.ApiKey,
            ["SendGrid:BaseUrl"] = sendGrid.BaseUrl.ToString(),
            ["SendGrid:SandboxMode"] = sandbox ? "true" : "false",
            ["Email:From"] = "SEND and inclusion training <training@example.org>",
        });

    [Fact]
    public async Task the_welcome_email_goes_as_a_v3_mail_send_request_carrying_template_and_enrolment()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        var id = await app.EnrolAsync("T-1");
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());

        Assert.Empty(sendGrid.Violations);
        var request = Assert.Single(sendGrid.Requests);
        var personalization = Assert.Single(request.GetProperty("personalizations").EnumerateArray());
        Assert.Equal("t-1@school100004.example.org", personalization.GetProperty("to")[0].GetProperty("email").GetString());
        Assert.Equal("Zoë Brontë-Ødegaard", personalization.GetProperty("to")[0].GetProperty("name").GetString());
        Assert.Equal("welcome", personalization.GetProperty("custom_args").GetProperty("template").GetString());
        Assert.Equal(id, personalization.GetProperty("custom_args").GetProperty("enrolment").GetString());
        Assert.Equal("welcome", personalization.GetProperty("headers").GetProperty("X-SendWorkflows-Template").GetString());
        Assert.Equal(["welcome"], request.GetProperty("categories").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("training@example.org", request.GetProperty("from").GetProperty("email").GetString());
        Assert.Equal("You're enrolled: SEND and inclusion: core training", request.GetProperty("subject").GetString());
        Assert.Contains("Dear Zoë,", request.GetProperty("content")[0].GetProperty("value").GetString(), StringComparison.Ordinal);
        Assert.Equal("text/html", request.GetProperty("content")[1].GetProperty("type").GetString());
        Assert.False(request.TryGetProperty("mail_settings", out _));
    }

    [Fact]
    public async Task sandbox_mode_asks_sendgrid_to_check_without_sending()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid, sandbox: true);
        await app.EnrolAsync("T-1");
        await app.TickAsync();
        Assert.True(Assert.Single(sendGrid.Requests).GetProperty("mail_settings").GetProperty("sandbox_mode").GetProperty("enable").GetBoolean());
    }

    [Fact]
    public async Task a_429_puts_everything_back_until_the_rate_limit_resets_without_counting_an_attempt()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        await app.EnrolAsync("T-1");
        await app.EnrolAsync("T-2");
        var reset = app.Clock.GetUtcNow().AddMinutes(2);
        sendGrid.Queue(429, """{"errors":[{"field":null,"message":"too many requests"}]}""",
            new() { ["X-RateLimit-Limit"] = "600", ["X-RateLimit-Remaining"] = "0", ["X-RateLimit-Reset"] = reset.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) });

        var tick = await app.TickAsync();
        Assert.Equal(0, tick.GetProperty("effectsSent").GetInt32());
        Assert.Single(sendGrid.Requests);
        Assert.Equal(2, app.Count("outbox", $"status = 'pending' AND attempts = 0 AND next_attempt_at = {reset.ToUnixTimeSeconds() * 1000} AND lease_until IS NULL"));

        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await app.TickAsync();
        Assert.Single(sendGrid.Requests);
        app.Clock.Set(reset);
        Assert.Equal(2, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());
        Assert.Equal(2, sendGrid.Requests.Count); // both welcomes share one request
    }

    [Fact]
    public async Task a_5xx_is_retried_with_back_off()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        await app.EnrolAsync("T-1");
        sendGrid.Queue(503, "unavailable");
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());
        Assert.Equal(1, app.Count("outbox", "status = 'pending' AND attempts = 1 AND last_error LIKE '%503%'"));
        app.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());
    }

    [Fact]
    public async Task a_4xx_ends_the_email_at_once_with_sendgrids_errors_recorded()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        await app.EnrolAsync("T-1");
        sendGrid.Queue(400, """{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}""");
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsDead").GetInt32());
        Assert.Equal(1, app.Count("outbox", "status = 'dead' AND attempts = 1 AND last_error LIKE '%from: The from address does not match a verified Sender Identity.%'"));
        app.Clock.Advance(TimeSpan.FromDays(1));
        await app.TickAsync();
        Assert.Single(sendGrid.Requests);
    }

    private static readonly string[] Names = ["Siân", "O'Brien & <Sons>", "Zoë \"Zed\" = Ødegaard"];

    private static async Task<List<string>> EnrolNamedAsync(TestApp app)
    {
        var ids = new List<string>();
        for (var i = 0; i < Names.Length; i++)
        {
            var response = await app.Admin().PostAsJsonAsync("/api/v1/enrolments", new
            {
                programmeId = TestApp.Programme, schoolUrn = "100004",
                staff = new { externalId = $"N-{i}", givenName = Names[i], familyName = "Test", email = $"n{i}@school100004.example.org", role = "teacher" },
            });
            response.EnsureSuccessStatusCode();
            ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }

        return ids;
    }

    /// <summary>What Handlebars renders for the effect stored in the outbox: the message each person must receive.</summary>
    private static (string Subject, string Text, string Html) Expected(TestApp app, string enrolmentId, string template)
    {
        var payload = app.Text($"SELECT payload FROM outbox WHERE enrolment_id = '{enrolmentId}' AND template = '{template}'")!;
        var effect = JsonSerializer.Deserialize<EmailEffect>(payload, JsonBody.Options)!;
        var model = new Dictionary<string, string>(effect.Model)
        {
            ["preferencesUrl"] = app.Service<PreferenceTokens>().Url(PreferenceSubject.Enrolment, Guid.Parse(enrolmentId)),
        };
        return app.Service<EmailComposer>().Render(template, model);
    }

    [Fact]
    public async Task emails_to_many_people_go_in_one_request_and_each_person_gets_exactly_their_own_message()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        var ids = await EnrolNamedAsync(app);
        Assert.Equal(3, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());
        app.Clock.Advance(TimeSpan.FromDays(7)); // the default programme's not-started reminder
        Assert.Equal(3, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());

        Assert.Empty(sendGrid.Violations);
        Assert.Equal(2, sendGrid.Requests.Count); // three welcomes in one request, three reminders in another
        var delivered = sendGrid.Delivered();
        Assert.Equal(6, delivered.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            foreach (var template in new[] { EmailTemplates.Welcome, EmailTemplates.NotStarted })
            {
                var message = Assert.Single(delivered, m => m.To == $"n{i}@school100004.example.org" &&
                    m.Personalization.GetProperty("custom_args").GetProperty("template").GetString() == template);
                var expected = Expected(app, ids[i], template);
                Assert.Equal(expected.Subject, message.Subject);
                Assert.Equal(expected.Text, message.Text);
                Assert.Equal(expected.Html, message.Html);
                Assert.Equal(ids[i], message.Personalization.GetProperty("custom_args").GetProperty("enrolment").GetString());
                Assert.Equal(template == EmailTemplates.NotStarted, message.Personalization.GetProperty("headers").TryGetProperty("List-Unsubscribe", out _));
            }
        }

        Assert.Contains("Dear O'Brien & <Sons>,", delivered.First(m => m.To == "n1@school100004.example.org").Text, StringComparison.Ordinal);
        Assert.DoesNotContain("<Sons>", delivered.First(m => m.To == "n1@school100004.example.org").Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_batch_refused_for_one_recipient_is_sent_one_by_one_so_only_that_email_fails()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        var ids = await EnrolNamedAsync(app);
        const string badRecipient = """{"errors":[{"field":"personalizations.1.to.0.email","message":"Does not contain a valid address."}]}""";
        sendGrid.Queue(400, badRecipient);
        sendGrid.Queue(202);
        sendGrid.Queue(400, badRecipient.Replace(".1.", ".0.", StringComparison.Ordinal));
        sendGrid.Queue(202);

        var tick = await app.TickAsync();

        Assert.Equal(2, tick.GetProperty("effectsSent").GetInt32());
        Assert.Equal(1, tick.GetProperty("effectsDead").GetInt32());
        Assert.Equal(4, sendGrid.Requests.Count);
        Assert.Equal(1, app.Count("outbox", $"status = 'dead' AND enrolment_id = '{ids[1]}' AND last_error LIKE '%Does not contain a valid address.%'"));
    }

    [Fact]
    public async Task a_batch_refused_for_the_whole_request_is_not_retried_one_by_one()
    {
        await using var sendGrid = await FakeSendGrid.StartAsync();
        await using var app = AppSendingTo(sendGrid);
        await EnrolNamedAsync(app);
        sendGrid.Queue(403, """{"errors":[{"field":"from","message":"The from address does not match a verified Sender Identity."}]}""");

        Assert.Equal(3, (await app.TickAsync()).GetProperty("effectsDead").GetInt32());
        Assert.Single(sendGrid.Requests);
    }

    [Fact]
    public void batches_hold_at_most_1000_people_each_address_once_and_unshareable_messages_alone()
    {
        static EmailMessage Message(int i, string? shape = "welcome:a", string? address = null) =>
            new($"<{i}@x>", new EmailAddress("from@example.org", null), new EmailAddress(address ?? $"p{i}@example.org", null), "s", "t", "h",
                DateTimeOffset.UnixEpoch, new Dictionary<string, string>(),
                shape is null ? null : new SharedContent(shape, "t", "h", new Dictionary<string, string> { ["[[sw:a]]"] = $"{i}" }));

        var many = Enumerable.Range(0, 2500).Select(i => Message(i)).ToList();
        Assert.Equal([1000, 1000, 500], SendGridTransport.Batches(many).Select(b => b.Count));

        var mixed = new List<EmailMessage>
        {
            Message(0), Message(1, address: "p0@EXAMPLE.org"), Message(2, shape: null), Message(3, shape: "not-started:a"), Message(4),
        };
        Assert.Equal([[0], [1, 4], [2], [3]], SendGridTransport.Batches(mixed).Select(b => b.ToArray()));

        var huge = Message(5) with { Shared = new SharedContent("welcome:a", "t", "h", new Dictionary<string, string> { ["[[sw:a]]"] = new string('x', 9_500) }) };
        Assert.Equal([[0], [1]], SendGridTransport.Batches([Message(0), huge]).Select(b => b.ToArray()));
    }

    [Fact]
    public async Task sendgrid_without_an_api_key_stops_the_start_with_a_clear_message()
    {
        await using var app = new TestApp(settings: new() { ["Email:Transport"] = "sendgrid" });
        var error = Assert.ThrowsAny<Exception>(() => app.Admin());
        Assert.Contains("SendGrid:ApiKey is required", error.ToString(), StringComparison.Ordinal);
    }
}
