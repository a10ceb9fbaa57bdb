namespace SendWorkflows.Email;

/// <summary>
/// The provider refused the message for good (a bad address, a rejected request): retrying cannot
/// help, so the effect ends in the dead state at once, with the provider's words recorded.
/// </summary>
public sealed class PermanentDeliveryException(string message, Exception? inner = null) : Exception(message, inner);
