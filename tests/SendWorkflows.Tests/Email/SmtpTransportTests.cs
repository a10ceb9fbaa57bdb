using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Email;

/// <summary>The smtp transport against a real SMTP server (maildev).</summary>
public sealed class SmtpTransportTests
{
    private static TestApp AppSendingTo(Maildev maildev, bool startTls = false, string? user = null, string? password = null) =>
        new(settings: new()
        {
            ["Email:Transport"] = "smtp",
            ["Email:Smtp:Host"] = "127.0.0.1",
            ["Email:Smtp:Port"] = maildev.SmtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:StartTls"] = startTls ? "true" : "false",
            ["Email:Smtp:Username"] = user,
            ["Email:Smtp:Password"] = password,
            ["Email:From"] = "SEND and inclusion training <training@example.org>",
        });

    [Fact]
    public async Task the_welcome_email_reaches_a_real_smtp_server_with_its_headers_and_both_parts()
    {
        await using var maildev = await Maildev.StartAsync();
        await using var app = AppSendingTo(maildev);
        var id = await app.EnrolAsync("T-1");
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsSent").GetInt32());

        var email = Assert.Single(await maildev.WaitForEmailsAsync(1));
        Assert.Equal("You're enrolled: SEND and inclusion: core training", email.GetProperty("subject").GetString());
        var to = email.GetProperty("to")[0];
        Assert.Equal("t-1@school100004.example.org", to.GetProperty("address").GetString());
        Assert.Equal("Zoë Brontë-Ødegaard", to.GetProperty("name").GetString());
        Assert.Equal("training@example.org", email.GetProperty("from")[0].GetProperty("address").GetString());
        var headers = email.GetProperty("headers");
        Assert.Equal("welcome", headers.GetProperty("x-sendworkflows-template").GetString());
        Assert.Equal(id, headers.GetProperty("x-sendworkflows-enrolment").GetString());
        Assert.Contains("Dear Zoë,", email.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("<p>Dear Zoë,</p>", email.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.Empty(app.OutboxFiles());
    }

    [Fact]
    public async Task a_relay_that_needs_a_login_accepts_the_right_one_and_the_wrong_one_is_retried_not_lost()
    {
        await using var maildev = await Maildev.StartAsync("relay-user", "relay-secret");
        await using (var wrong = AppSendingTo(maildev, user: "relay-user", password: "not-the-secret"))
        {
            await wrong.EnrolAsync("T-1");
            var tick = await wrong.TickAsync();
            Assert.Equal(1, tick.GetProperty("effectsFailed").GetInt32());
            Assert.Equal(1, wrong.Count("outbox", "status = 'pending' AND attempts = 1 AND last_error IS NOT NULL"));
        }

        Assert.Empty(await maildev.EmailsAsync());
        await using var right = AppSendingTo(maildev, user: "relay-user", password: "relay-secret");
        await right.EnrolAsync("T-2");
        Assert.Equal(1, (await right.TickAsync()).GetProperty("effectsSent").GetInt32());
        Assert.Single(await maildev.WaitForEmailsAsync(1));
    }

    [Fact]
    public async Task with_starttls_required_a_relay_that_cannot_secure_the_connection_gets_nothing_in_plain_text()
    {
        await using var maildev = await Maildev.StartAsync();
        await using var app = AppSendingTo(maildev, startTls: true);
        await app.EnrolAsync("T-1");
        Assert.Equal(1, (await app.TickAsync()).GetProperty("effectsFailed").GetInt32());
        Assert.Empty(await maildev.EmailsAsync());
    }

    [Fact]
    public async Task smtp_without_a_host_stops_the_start_with_a_clear_message()
    {
        await using var app = new TestApp(settings: new() { ["Email:Transport"] = "smtp" });
        var error = Assert.ThrowsAny<Exception>(() => app.Admin());
        Assert.Contains("Email:Smtp:Host is required", error.ToString(), StringComparison.Ordinal);
    }
}
