namespace SendWorkflows.Webhooks;

/// <summary><c>Webhooks:*</c> settings.</summary>
public sealed class WebhookOptions
{
    /// <summary>How long a receiver has to answer; Standard Webhooks recommends 15 to 30 seconds.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    public int MaxSubscriptionsPerClient { get; set; } = 10;

    /// <summary>Deliveries in flight at once in one dispatch pass, so one slow receiver does not hold up the rest.</summary>
    public int MaxConcurrentDeliveries { get; set; } = 8;

    /// <summary><c>http://</c> receivers; unset means in Development only. Anywhere else payloads travel encrypted.</summary>
    public bool? AllowHttp { get; set; }

    /// <summary>
    /// Receivers on loopback, private, link-local and other non-public addresses; unset means in
    /// Development only. Elsewhere a subscription cannot make the service call into its own network.
    /// </summary>
    public bool? AllowPrivateNetworks { get; set; }
}
