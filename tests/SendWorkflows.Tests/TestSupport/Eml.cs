using System.Net.Mail;
using System.Text;
using System.Text.RegularExpressions;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>Reads what the tests need from an RFC 5322 file: headers, and decoded text parts.</summary>
public static partial class Eml
{
    public static string Header(string eml, string name)
    {
        var match = Regex.Match(eml, $@"^{Regex.Escape(name)}: (.*(?:\r\n[ \t].*)*)", RegexOptions.Multiline);
        Assert.True(match.Success, $"no {name} header");
        return DecodeWords(match.Groups[1].Value.Replace("\r\n", "", StringComparison.Ordinal).Trim());
    }

    /// <summary>The decoded body of the part with this content type (quoted-printable, UTF-8).</summary>
    public static string Part(string eml, string contentType)
    {
        var start = eml.IndexOf($"Content-Type: {contentType}", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no {contentType} part");
        var bodyStart = eml.IndexOf("\r\n\r\n", start, StringComparison.Ordinal) + 4;
        var end = eml.IndexOf("\r\n--", bodyStart, StringComparison.Ordinal);
        return DecodeQuotedPrintable(eml[bodyStart..end]);
    }

    public static MailAddress To(string eml) => new(Header(eml, "To"));

    private static string DecodeQuotedPrintable(string text)
    {
        var joined = text.Replace("=\r\n", "", StringComparison.Ordinal);
        var bytes = new List<byte>();
        for (var i = 0; i < joined.Length; i++)
        {
            if (joined[i] == '=' && i + 2 < joined.Length)
            {
                bytes.Add(Convert.ToByte(joined.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.Add((byte)joined[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    [GeneratedRegex(@"=\?utf-8\?(?<enc>[QB])\?(?<text>[^?]*)\?=", RegexOptions.IgnoreCase)]
    private static partial Regex EncodedWord();

    private static string DecodeWords(string header) =>
        EncodedWord().Replace(header.Replace("?= =?", "?==?", StringComparison.Ordinal), m => m.Groups["enc"].Value.ToUpperInvariant() == "B"
            ? Encoding.UTF8.GetString(Convert.FromBase64String(m.Groups["text"].Value))
            : DecodeQuotedPrintable(m.Groups["text"].Value.Replace('_', ' ')));
}
