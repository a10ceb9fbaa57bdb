using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

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
        Assert.Equal(3, sendGrid.Requests.Count);
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

    [Fact]
    public async Task sendgrid_without_an_api_key_stops_the_start_with_a_clear_message()
    {
        await using var app = new TestApp(settings: new() { ["Email:Transport"] = "sendgrid" });
        var error = Assert.ThrowsAny<Exception>(() => app.Admin());
        Assert.Contains("SendGrid:ApiKey is required", error.ToString(), StringComparison.Ordinal);
    }
}
