using System.Net.Mail;

namespace SendWorkflows.Email;

/// <summary>
/// Writes each message as an RFC 5322 <c>.eml</c> file into a folder (<c>Email:OutboxPath</c>): the
/// default transport, so a new install sends nothing anywhere and every message can be read. The
/// file name comes from the message id, so sending the same message again replaces its file
/// rather than adding a second one, and the file appears whole (written aside, then moved).
/// </summary>
public sealed class OutboxFolderTransport : IEmailTransport
{
    private readonly string _folder;

    public OutboxFolderTransport(string folder)
    {
        _folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(_folder);
    }

    public string Folder => _folder;

    public async Task SendAsync(EmailMessage message, CancellationToken ct)
    {
        var staging = Path.Combine(_folder, ".staging", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            using (var mail = MailMessages.Build(message))
            using (var client = new SmtpClient { DeliveryMethod = SmtpDeliveryMethod.SpecifiedPickupDirectory, PickupDirectoryLocation = staging })
            {
                await client.SendMailAsync(mail, ct);
            }

            // The pickup writer adds X-Sender and X-Receiver envelope lines for a mail server; a reader of the file needs neither.
            var written = Directory.GetFiles(staging, "*.eml").Single();
            var lines = (await File.ReadAllTextAsync(written, ct)).Split("\r\n")
                .SkipWhile(l => l.StartsWith("X-Sender:", StringComparison.Ordinal) || l.StartsWith("X-Receiver:", StringComparison.Ordinal));
            await File.WriteAllTextAsync(written, string.Join("\r\n", lines), ct);
            File.Move(written, Path.Combine(_folder, FileName(message)), overwrite: true);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary><c>20261122T134648Z-welcome-&lt;message id&gt;.eml</c>: sorts by time, says what it is.</summary>
    public static string FileName(EmailMessage message)
    {
        var id = new string(message.MessageId.Trim('<', '>').Split('@')[0].Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.').ToArray());
        var template = message.Headers.TryGetValue(EmailMessage.TemplateHeader, out var t) ? t : "message";
        return $"{message.Date.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}-{template}-{id}.eml";
    }
}
