namespace SendWorkflows.Email;

/// <summary>
/// A composed email, ready for any transport. A message composed from a shared form fills in its
/// bodies only when a transport asks for them: a provider that takes the form once and each person's
/// substitutions (SendGrid) never needs 1,000 copies of the same text.
/// </summary>
public sealed record EmailMessage(
    string MessageId,
    EmailAddress From,
    EmailAddress To,
    string Subject,
    DateTimeOffset Date,
    IReadOnlyDictionary<string, string> Headers,
    SharedContent? Shared = null)
{
    private string? _textBody;
    private string? _htmlBody;

    public EmailMessage(
        string messageId, EmailAddress from, EmailAddress to, string subject, string textBody, string htmlBody, DateTimeOffset date,
        IReadOnlyDictionary<string, string> headers, SharedContent? shared = null)
        : this(messageId, from, to, subject, date, headers, shared)
    {
        _textBody = textBody;
        _htmlBody = htmlBody;
    }

    public string TextBody => _textBody ??= (Shared ?? throw new InvalidOperationException("The message has no text body.")).FillText();

    public string HtmlBody => _htmlBody ??= (Shared ?? throw new InvalidOperationException("The message has no HTML body.")).FillHtml();

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
public sealed partial record SharedContent(string Key, string Text, string Html, IReadOnlyDictionary<string, string> Substitutions)
{
    private IReadOnlyList<(string Literal, string? Tag)>? _textSegments;
    private IReadOnlyList<(string Literal, string? Tag)>? _htmlSegments;

    /// <summary>
    /// The text form split at its tags: the composer passes the split it made once per form, so
    /// filling a message's body never searches the form again. Set it with the form it splits.
    /// </summary>
    public IReadOnlyList<(string Literal, string? Tag)> TextSegments
    {
        get => _textSegments ??= Segments(Text);
        init => _textSegments = value;
    }

    public IReadOnlyList<(string Literal, string? Tag)> HtmlSegments
    {
        get => _htmlSegments ??= Segments(Html);
        init => _htmlSegments = value;
    }

    /// <summary>The text body: each tag replaced by its value, in one pass (a value is never searched for tags).</summary>
    public string FillText() => Fill(TextSegments, Substitutions);

    public string FillHtml() => Fill(HtmlSegments, Substitutions);

    /// <summary>A form split at its tags: literal text, and the tag that follows it (null at the end).</summary>
    public static List<(string Literal, string? Tag)> Segments(string form)
    {
        var segments = new List<(string, string?)>();
        var at = 0;
        foreach (System.Text.RegularExpressions.Match m in Tag().Matches(form))
        {
            segments.Add((form[at..m.Index], m.Value));
            at = m.Index + m.Length;
        }

        segments.Add((form[at..], null));
        return segments;
    }

    private static string Fill(IReadOnlyList<(string Literal, string? Tag)> segments, IReadOnlyDictionary<string, string> values)
    {
        var length = 0;
        foreach (var (literal, tag) in segments)
        {
            length += literal.Length + (tag is null ? 0 : values.TryGetValue(tag, out var v) ? v.Length : tag.Length);
        }

        return string.Create(length, (segments, values), static (span, state) =>
        {
            foreach (var (literal, tag) in state.segments)
            {
                literal.CopyTo(span);
                span = span[literal.Length..];
                if (tag is not null)
                {
                    var value = state.values.TryGetValue(tag, out var v) ? v : tag;
                    value.CopyTo(span);
                    span = span[value.Length..];
                }
            }
        });
    }

    public const string TagStart = "[[sw:";

    [System.Text.RegularExpressions.GeneratedRegex(@"\[\[sw:[A-Za-z][A-Za-z0-9]*(?::html)?\]\]", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex Tag();
}

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
