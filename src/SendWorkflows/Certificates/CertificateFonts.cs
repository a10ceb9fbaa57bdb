using System.Collections.Concurrent;
using System.Reflection;
using PdfSharp.Fonts;

namespace SendWorkflows.Certificates;

/// <summary>
/// The certificate's typeface, shipped inside the app and never taken from the host: DejaVu Sans
/// (Bitstream Vera licence, see Fonts/LICENSE-DejaVu.txt), which covers the Latin, Vietnamese and
/// other accented names staff have (Siân Ó Dálaigh, Łukasz Wróbel, Nguyễn Thị Hương).
/// </summary>
public sealed class CertificateFonts : IFontResolver
{
    public const string Family = "DejaVu Sans";
    private const string Regular = "DejaVuSans";
    private const string Bold = "DejaVuSans-Bold";

    private readonly ConcurrentDictionary<string, byte[]> _faces = new(StringComparer.Ordinal);

    public FontResolverInfo? ResolveTypeface(string familyName, bool isBold, bool isItalic) =>
        string.Equals(familyName, Family, StringComparison.OrdinalIgnoreCase)
            ? new FontResolverInfo(isBold ? Bold : Regular)
            : null;

    public byte[]? GetFont(string faceName) => _faces.GetOrAdd(faceName, static name =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"fonts/{name}.ttf")
                           ?? throw new InvalidOperationException($"The font {name} is not shipped with the app.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });
}
