using System.Net;
using System.Net.Mail;

namespace SendWorkflows.Email;

public sealed class SmtpOptions
{
    public string? Host { get; set; }

    /// <summary>587 is the submission port, where STARTTLS is expected.</summary>
    public int Port { get; set; } = 587;

    /// <summary>Upgrade the connection with STARTTLS before sending (System.Net.Mail does not do implicit TLS on 465).</summary>
    public bool StartTls { get; set; } = true;

    public string? Username { get; set; }
    public string? Password { get; set; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Sends through any SMTP relay: SendGrid's (<c>smtp.sendgrid.net</c>, user <c>apikey</c>, the API
/// key as password), an organisation's own, or a local maildev for testing. The message is built
/// by System.Net.Mail, like the outbox folder's, so what is tested locally is what is sent.
/// </summary>
public sealed class SmtpTransport : IEmailTransport
{
    private readonly SmtpOptions _options;

    public SmtpTransport(SmtpOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Host))
        {
            throw new InvalidOperationException("Email:Smtp:Host is required when Email:Transport is smtp.");
        }

        if (options.Port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"Email:Smtp:Port {options.Port} is not a port number.");
        }

        _options = options;
    }

    public async Task SendAsync(EmailMessage message, CancellationToken ct)
    {
        using var mail = MailMessages.Build(message);
        // One client per message: SmtpClient is not safe to share between concurrent sends.
        using var client = new SmtpClient(_options.Host, _options.Port)
        {
            EnableSsl = _options.StartTls,
            DeliveryMethod = SmtpDeliveryMethod.Network,
            Timeout = (int)_options.Timeout.TotalMilliseconds,
            UseDefaultCredentials = false,
            Credentials = string.IsNullOrEmpty(_options.Username) ? null : new NetworkCredential(_options.Username, _options.Password),
        };
        try
        {
            await client.SendMailAsync(mail, ct);
        }
        catch (SmtpException e) when (RefusesThisMessage(e.StatusCode))
        {
            throw new PermanentDeliveryException($"The relay refused the message: {(int)e.StatusCode} {e.StatusCode}.", e);
        }
    }

    /// <summary>
    /// 550–554 refuse this recipient or this message (RFC 5321 §4.2.2): sending it again cannot help.
    /// Everything else, including a failed login (530, 535), is about the relay or its configuration,
    /// and is retried so that mail flows again by itself once that is put right.
    /// </summary>
    private static bool RefusesThisMessage(SmtpStatusCode code) => (int)code is >= 550 and <= 554;
}
