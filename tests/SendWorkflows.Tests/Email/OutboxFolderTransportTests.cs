using SendWorkflows.Email;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Email;

public sealed class OutboxFolderTransportTests
{
    private static EmailMessage Message(string subject = "Your training: Łukasz Wróbel") => new(
        "<welcome.abc123@sendworkflows.invalid>",
        new EmailAddress("no-reply@sendworkflows.invalid", "SEND and inclusion training"),
        new EmailAddress("lukasz@example.org", "Łukasz Wróbel"),
        subject,
        "Dear Łukasz,\nPlease finish by 23 May 2027.\n",
        "<p>Dear Łukasz,</p>",
        new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero),
        new Dictionary<string, string> { ["X-SendWorkflows-Template"] = "welcome", ["X-SendWorkflows-Enrolment"] = "e-1" });

    [Fact]
    public async Task writes_a_readable_multipart_message_with_the_identifying_headers()
    {
        var dir = Directory.CreateTempSubdirectory("sendworkflows-eml-").FullName;
        await new OutboxFolderTransport(dir).SendAsync(Message(), CancellationToken.None);

        var eml = File.ReadAllText(Assert.Single(Directory.GetFiles(dir, "*.eml")));
        Assert.Equal("welcome", Eml.Header(eml, "X-SendWorkflows-Template"));
        Assert.Equal("e-1", Eml.Header(eml, "X-SendWorkflows-Enrolment"));
        Assert.Equal("<welcome.abc123@sendworkflows.invalid>", Eml.Header(eml, "Message-ID"));
        Assert.Equal("Your training: Łukasz Wróbel", Eml.Header(eml, "Subject"));
        Assert.Equal("Łukasz Wróbel", Eml.To(eml).DisplayName);
        Assert.Equal("Dear Łukasz,\r\nPlease finish by 23 May 2027.\r\n", Eml.Part(eml, "text/plain"));
        Assert.Equal("<p>Dear Łukasz,</p>", Eml.Part(eml, "text/html"));
        Assert.DoesNotContain("X-Sender", eml, StringComparison.Ordinal);
        Assert.StartsWith("20261123T090000Z-welcome-", Path.GetFileName(Directory.GetFiles(dir, "*.eml")[0]), StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task sending_the_same_message_again_replaces_its_file()
    {
        var dir = Directory.CreateTempSubdirectory("sendworkflows-eml-").FullName;
        var transport = new OutboxFolderTransport(dir);
        await transport.SendAsync(Message(), CancellationToken.None);
        await transport.SendAsync(Message(), CancellationToken.None);
        Assert.Single(Directory.GetFiles(dir, "*.eml"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(dir, ".staging")));
        Directory.Delete(dir, recursive: true);
    }
}
