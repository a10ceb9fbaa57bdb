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
    IReadOnlyDictionary<string, string> Headers,
    SharedContent? Shared = null)
{
    public const string TemplateHeader = "X-SendWorkflows-Template";
    public const string EnrolmentHeader = "X-SendWorkflows-Enrolment";
    public const string ListUnsubscribeHeader = "List-Unsubscribe";
    public const string ListUnsubscribePostHeader = "List-Unsubscribe-Post";
}

public sealed record EmailAddress(string Address, string? DisplayName);

/// <summary>
/// The message's body as a form shared by every message of the same template and shape, with tags
/// such as <c>[[sw:givenName]]</c>, and this message's value for each tag. Messages with the same
/// <see cref="Key"/> differ only in their substitutions, so a provider can send them as one request.
/// </summary>
public sealed record SharedContent(string Key, string Text, string Html, IReadOnlyDictionary<string, string> Substitutions);

/// <summary>Delivers a composed email. Chosen by <c>Email:Transport</c>.</summary>
public interface IEmailTransport
{
    /// <summary>Sends the message, or throws; a throw leaves the effect in the outbox to be retried.</summary>
    Task SendAsync(EmailMessage message, CancellationToken ct);

    /// <summary>
    /// Sends several messages and says, for each, what went wrong (null: sent). A transport that can
    /// batch overrides this; by default they go one by one. A rate limit stops the rest, each of which
    /// then carries the same <see cref="RateLimitedException"/>; so does shutting down, with an
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    async Task<IReadOnlyList<Exception?>> SendManyAsync(IReadOnlyList<EmailMessage> messages, CancellationToken ct)
    {
        var outcomes = new Exception?[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            try
            {
                await SendAsync(messages[i], ct);
            }
            catch (OperationCanceledException e) when (ct.IsCancellationRequested)
            {
                Array.Fill(outcomes, e, i, messages.Count - i); // shutting down: these were not sent
                break;
            }
            catch (RateLimitedException e)
            {
                Array.Fill(outcomes, e, i, messages.Count - i);
                break;
            }
            catch (Exception e)
            {
                outcomes[i] = e;
            }
        }

        return outcomes;
    }
}
