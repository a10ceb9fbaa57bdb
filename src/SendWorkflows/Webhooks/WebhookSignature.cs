using System.Security.Cryptography;
using System.Text;

namespace SendWorkflows.Webhooks;

/// <summary>
/// Standard Webhooks symmetric signatures: HMAC-SHA256, keyed with the base64-decoded secret after
/// <c>whsec_</c>, over <c>{webhook-id}.{webhook-timestamp}.{body}</c>, sent as <c>v1,{base64}</c>.
/// </summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    /// <summary>32 random bytes (the specification asks for 24 to 64).</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static string Sign(string secret, string webhookId, long timestamp, ReadOnlySpan<byte> body)
    {
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException("A webhook secret starts with whsec_.", nameof(secret));
        }

        var key = Convert.FromBase64String(secret[SecretPrefix.Length..]);
        var prefix = Encoding.UTF8.GetBytes(FormattableString.Invariant($"{webhookId}.{timestamp}."));
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }

    /// <summary>
    /// The <c>webhook-id</c> of an event: derived from its identity, so it is the same for every
    /// attempt and every subscriber, and holds no full stop (the signed content uses them as separators).
    /// </summary>
    public static string MessageId(string eventKey) =>
        "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(eventKey)))[..32];
}
