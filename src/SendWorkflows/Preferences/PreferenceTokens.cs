using System.Buffers.Text;
using System.Security.Cryptography;
using SendWorkflows.Certificates;
using SendWorkflows.Http;

namespace SendWorkflows.Preferences;

/// <summary>Whose preferences a token opens.</summary>
public enum PreferenceSubject : byte
{
    /// <summary>A person's enrolment: their reminder emails.</summary>
    Enrolment = 1,

    /// <summary>A school lead registered as a contact: their weekly digest.</summary>
    SchoolContact = 2,
}

/// <summary>
/// The token in <c>/preferences/{token}</c>: who it is for and an HMAC over that, keyed with
/// <c>Certificates:SigningKey</c>, base64url-encoded (44 characters). It does not expire, because an
/// unsubscribe link in an old email must keep working; it grants nothing but the person's own
/// email preferences and progress summary.
/// </summary>
public sealed class PreferenceTokens(CertificateLinks signing, PublicUrls urls)
{
    private const string Purpose = "preferences";
    private const int MacBytes = 16;
    private const int TokenBytes = 1 + 16 + MacBytes;

    public string Create(PreferenceSubject subject, Guid id)
    {
        Span<byte> token = stackalloc byte[TokenBytes];
        token[0] = (byte)subject;
        id.TryWriteBytes(token.Slice(1, 16));
        signing.Mac(Purpose, token[..17]).AsSpan(0, MacBytes).CopyTo(token[17..]);
        return Base64Url.EncodeToString(token);
    }

    public string Url(PreferenceSubject subject, Guid id) => $"{urls.BaseFor(null)}/preferences/{Create(subject, id)}";

    /// <summary>False for anything that is not a token this service signed, whatever its shape.</summary>
    public bool TryRead(string? token, out PreferenceSubject subject, out Guid id)
    {
        subject = default;
        id = default;
        if (token is null || token.Length != 44)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[TokenBytes + 2];
        if (Base64Url.DecodeFromChars(token, bytes, out var consumed, out var written) != System.Buffers.OperationStatus.Done ||
            consumed != token.Length || written != TokenBytes)
        {
            return false;
        }

        var expected = signing.Mac(Purpose, bytes[..17]).AsSpan(0, MacBytes);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes.Slice(17, MacBytes)) ||
            !Enum.IsDefined((PreferenceSubject)bytes[0]))
        {
            return false;
        }

        subject = (PreferenceSubject)bytes[0];
        id = new Guid(bytes.Slice(1, 16));
        return true;
    }
}
