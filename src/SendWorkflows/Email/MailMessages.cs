using System.Globalization;
using System.Net.Mail;
using System.Net.Mime;
using System.Text;

namespace SendWorkflows.Email;

/// <summary>
/// Builds the framework's <see cref="MailMessage"/> from an <see cref="EmailMessage"/>, so RFC 5322 and
/// MIME encoding (multipart/alternative, encoded-word headers, quoted-printable bodies) are done by
/// System.Net.Mail rather than by hand. Every transport that speaks MIME starts here.
/// </summary>
public static class MailMessages
{
    public static MailMessage Build(EmailMessage message)
    {
        var mail = new MailMessage
        {
            From = new MailAddress(message.From.Address, message.From.DisplayName, Encoding.UTF8),
            Subject = message.Subject,
            SubjectEncoding = Encoding.UTF8,
            HeadersEncoding = Encoding.UTF8,
            BodyEncoding = Encoding.UTF8,
            Body = Crlf(message.TextBody),
            IsBodyHtml = false,
            BodyTransferEncoding = TransferEncoding.QuotedPrintable,
        };
        mail.To.Add(new MailAddress(message.To.Address, message.To.DisplayName, Encoding.UTF8));

        var html = AlternateView.CreateAlternateViewFromString(Crlf(message.HtmlBody), Encoding.UTF8, MediaTypeNames.Text.Html);
        html.TransferEncoding = TransferEncoding.QuotedPrintable;
        mail.AlternateViews.Add(html);

        mail.Headers.Add("Message-ID", message.MessageId);
        // RFC 5322 date from our own clock, not the machine's.
        mail.Headers.Add("Date", message.Date.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture));
        foreach (var (name, value) in message.Headers)
        {
            mail.Headers.Add(name, value);
        }

        return mail;
    }

    /// <summary>MIME lines end in CRLF; a bare LF would be encoded as "=0A" instead of a line break.</summary>
    private static string Crlf(string text) => text.ReplaceLineEndings("\r\n");
}
