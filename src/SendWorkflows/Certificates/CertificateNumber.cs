using System.Security.Cryptography;
using System.Text;

namespace SendWorkflows.Certificates;

/// <summary>
/// Certificate numbers: eleven random Crockford base32 characters and a check character, shown as
/// <c>7K3M-9QZ2-X4TB</c>. Crockford's alphabet leaves out I, L, O and U, so a number read aloud or
/// retyped from paper is not ambiguous; the check character (Luhn mod 32) rejects any single mistyped
/// character and most swapped pairs instead of looking up someone else's certificate.
/// </summary>
public static class CertificateNumber
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private const int Length = 12;

    public static string New()
    {
        Span<byte> random = stackalloc byte[Length - 1];
        RandomNumberGenerator.Fill(random);
        var symbols = new char[Length];
        for (var i = 0; i < Length - 1; i++)
        {
            symbols[i] = Alphabet[random[i] & 31];
        }

        symbols[Length - 1] = Alphabet[CheckValue(symbols.AsSpan(0, Length - 1))];
        return Format(new string(symbols));
    }

    /// <summary>
    /// Reads a number as a person might type it (any case, with or without hyphens or spaces, O for 0,
    /// I or L for 1) and returns it in its canonical form, or null if it is not a valid number.
    /// </summary>
    public static string? Normalise(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 40)
        {
            return null;
        }

        var symbols = new StringBuilder(Length);
        foreach (var c in text.ToUpperInvariant())
        {
            var symbol = c switch
            {
                '-' or ' ' => '\0',
                'O' => '0',
                'I' or 'L' => '1',
                _ => c,
            };
            if (symbol == '\0')
            {
                continue;
            }

            if (Alphabet.IndexOf(symbol, StringComparison.Ordinal) < 0)
            {
                return null;
            }

            symbols.Append(symbol);
        }

        if (symbols.Length != Length)
        {
            return null;
        }

        var canonical = symbols.ToString();
        return Alphabet[CheckValue(canonical.AsSpan(0, Length - 1))] == canonical[Length - 1] ? Format(canonical) : null;
    }

    private static string Format(string symbols) => $"{symbols[..4]}-{symbols[4..8]}-{symbols[8..]}";

    /// <summary>The Luhn mod N check value (N = 32) for the payload.</summary>
    private static int CheckValue(ReadOnlySpan<char> payload)
    {
        const int n = 32;
        var factor = 2;
        var sum = 0;
        for (var i = payload.Length - 1; i >= 0; i--)
        {
            var addend = factor * Alphabet.IndexOf(payload[i], StringComparison.Ordinal);
            factor = factor == 2 ? 1 : 2;
            sum += (addend / n) + (addend % n);
        }

        return (n - (sum % n)) % n;
    }
}
