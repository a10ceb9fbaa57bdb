namespace SendWorkflows.Email;

/// <summary>A composed email, ready for any transport.</summary>
public sealed record EmailMessage(
    string MessageId,
    EmailAddress From,
    EmailAddress To,
    string Subject,
    string TextBody,
    string HtmlBody,
    DateTimeOffset Date,
    IReadOnlyDictionary<string, string> Headers)
{
    public const string TemplateHeader = "X-SendWorkflows-Template";
    public const string EnrolmentHeader = "X-SendWorkflows-Enrolment";
    public const string ListUnsubscribeHeader = "List-Unsubscribe";
    public const string ListUnsubscribePostHeader = "List-Unsubscribe-Post";
}

public sealed record EmailAddress(string Address, string? DisplayName);

/// <summary>Delivers a composed email. Chosen by <c>Email:Transport</c>.</summary>
public interface IEmailTransport
{
    /// <summary>Sends the message, or throws; a throw leaves the effect in the outbox to be retried.</summary>
    Task SendAsync(EmailMessage message, CancellationToken ct);
}
