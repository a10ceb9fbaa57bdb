using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SendWorkflows.Http;

namespace SendWorkflows.Certificates;

public enum LinkCheck
{
    Valid,
    Tampered,
    Expired,
}

/// <summary>
/// Signed, expiring download links: <c>/certificates/{number}.pdf?expires={unix seconds}&amp;sig={HMAC-SHA256}</c>
/// keyed with <c>Certificates:SigningKey</c>. Without that setting a key is generated once into
/// <c>Certificates:SigningKeyPath</c> (by default <c>data/signing.key</c>) and kept there, so links
/// survive restarts; production sets the key explicitly.
/// </summary>
public sealed class CertificateLinks
{
    private readonly byte[] _key;
    private readonly PublicUrls _urls;

    public CertificateLinks(IConfiguration configuration, PublicUrls urls)
    {
        _urls = urls;
        _key = LoadKey(configuration);
    }

    /// <summary>True when the key came from the data folder rather than from configuration.</summary>
    public bool KeyWasGenerated { get; private set; }

    public string VerifyUrl(string number, HttpRequest? request = null) => $"{_urls.BaseFor(request)}/verify/{number}";

    public string DownloadUrl(string number, DateTimeOffset expires, HttpRequest? request = null)
    {
        var seconds = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"{_urls.BaseFor(request)}/certificates/{number}.pdf?expires={seconds}&sig={Sign(number, seconds)}";
    }

    /// <summary>Checks the signature first (constant time), then the expiry, so a changed expiry is tampering, not expiry.</summary>
    public LinkCheck Check(string number, string? expires, string? sig, DateTimeOffset now)
    {
        if (expires is null || sig is null || !long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return LinkCheck.Tampered;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(number, expires));
        var given = Encoding.ASCII.GetBytes(sig);
        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            return LinkCheck.Tampered;
        }

        return DateTimeOffset.FromUnixTimeSeconds(Math.Min(seconds, 253402300799)) <= now ? LinkCheck.Expired : LinkCheck.Valid;
    }

    /// <summary>
    /// An HMAC-SHA256 under the same key for another kind of signed link (preference tokens). The
    /// purpose is part of the signed text, so a signature made for one kind never passes for another.
    /// </summary>
    public byte[] Mac(string purpose, ReadOnlySpan<byte> data)
    {
        var label = Encoding.UTF8.GetBytes($"{purpose}\n");
        var message = new byte[label.Length + data.Length];
        label.CopyTo(message, 0);
        data.CopyTo(message.AsSpan(label.Length));
        return HMACSHA256.HashData(_key, message);
    }

    private string Sign(string number, string expires) =>
        Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"certificate\n{number}\n{expires}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private byte[] LoadKey(IConfiguration configuration)
    {
        var configured = configuration["Certificates:SigningKey"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (configured.Length < 32)
            {
                throw new InvalidOperationException("Certificates:SigningKey must be at least 32 characters long.");
            }

            return SHA256.HashData(Encoding.UTF8.GetBytes(configured));
        }

        KeyWasGenerated = true;
        var path = Path.GetFullPath(configuration["Certificates:SigningKeyPath"] ?? "data/signing.key");
        if (File.Exists(path))
        {
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = RandomNumberGenerator.GetBytes(32);
        // Written aside and moved, so two instances starting together both end up with one whole key.
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, Convert.ToBase64String(key));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }

        return key;
    }
}
