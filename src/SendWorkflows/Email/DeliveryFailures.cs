namespace SendWorkflows.Email;

/// <summary>
/// The provider refused the message for good (a bad address, a rejected request): retrying cannot
/// help, so the effect ends in the dead state at once, with the provider's words recorded.
/// </summary>
public class PermanentDeliveryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The provider asked us to slow down: nothing more should be sent to it before <see cref="RetryAt"/>.
/// The dispatcher stops its pass and puts every effect it had claimed back until then, without
/// counting an attempt against them.
/// </summary>
public sealed class RateLimitedException(DateTimeOffset retryAt, string message) : Exception(message)
{
    public DateTimeOffset RetryAt { get; } = retryAt;
}
