using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Reflection;
using System.Text;
using PdfSharp.Fonts;

namespace SendWorkflows.Certificates;

/// <summary>
/// The certificate's typeface, shipped inside the app and never taken from the host: DejaVu Sans
/// (Bitstream Vera licence, see Fonts/LICENSE-DejaVu.txt), which covers the Latin, Vietnamese and
/// other accented names staff have (Siân Ó Dálaigh, Łukasz Wróbel, Nguyễn Thị Hương), and Greek,
/// Cyrillic and more besides.
/// </summary>
/// <remarks>
/// Each face comes twice. <see cref="LatinFamily"/> is DejaVu Sans cut down to the Latin scripts,
/// combining accents and punctuation (Fonts/make-latin-faces.sh makes it): PDFsharp embeds a subset
/// of the face in every certificate, and the work of that, and the size of the file, grow with the
/// number of glyphs in the face, not only those used, so the small face makes a certificate several
/// times cheaper. <see cref="Family"/> is the whole face, for a certificate with any character the
/// small one lacks.
/// </remarks>
public sealed class CertificateFonts : IFontResolver
{
    public const string Family = "DejaVu Sans";
    public const string LatinFamily = "DejaVu Sans Latin";
    private const string Regular = "DejaVuSans";
    private const string Bold = "DejaVuSans-Bold";
    private const string LatinRegular = "DejaVuSans-Latin";
    private const string LatinBold = "DejaVuSans-Bold-Latin";

    private static readonly ConcurrentDictionary<string, byte[]> Faces = new(StringComparer.Ordinal);

    /// <summary>Every character both Latin faces have a glyph for, read from their character maps.</summary>
    private static readonly Lazy<FrozenSet<int>> LatinCharacters =
        new(() => CharacterMap(Face(LatinRegular)).Intersect(CharacterMap(Face(LatinBold))).ToFrozenSet());

    public FontResolverInfo? ResolveTypeface(string familyName, bool isBold, bool isItalic) =>
        string.Equals(familyName, Family, StringComparison.OrdinalIgnoreCase) ? new FontResolverInfo(isBold ? Bold : Regular)
        : string.Equals(familyName, LatinFamily, StringComparison.OrdinalIgnoreCase) ? new FontResolverInfo(isBold ? LatinBold : LatinRegular)
        : null;

    public byte[]? GetFont(string faceName) => Face(faceName);

    /// <summary>Whether the Latin faces can draw every character of every text.</summary>
    public static bool LatinCovers(IEnumerable<string?> texts)
    {
        var covered = LatinCharacters.Value;
        foreach (var text in texts)
        {
            foreach (var rune in (text ?? "").EnumerateRunes())
            {
                if (!covered.Contains(rune.Value))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static byte[] Face(string name) => Faces.GetOrAdd(name, static name =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"fonts/{name}.ttf")
                           ?? throw new InvalidOperationException($"The font {name} is not shipped with the app.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>
    /// The characters a TrueType font maps to a glyph other than the missing-glyph box, from its
    /// Unicode BMP character map (platform 3, encoding 1, format 4), which is all the Latin faces have.
    /// </summary>
    internal static HashSet<int> CharacterMap(ReadOnlySpan<byte> font)
    {
        var cmap = Table(font, "cmap");
        var subtable = -1;
        for (var i = 0; i < BinaryPrimitives.ReadUInt16BigEndian(cmap[2..]); i++)
        {
            var record = cmap.Slice(4 + 8 * i, 8);
            if (BinaryPrimitives.ReadUInt16BigEndian(record) == 3 && BinaryPrimitives.ReadUInt16BigEndian(record[2..]) == 1)
            {
                subtable = (int)BinaryPrimitives.ReadUInt32BigEndian(record[4..]);
            }
        }

        if (subtable < 0 || BinaryPrimitives.ReadUInt16BigEndian(cmap[subtable..]) != 4)
        {
            throw new InvalidOperationException("The font has no Unicode BMP character map in format 4.");
        }

        var format4 = cmap[subtable..];
        var segments = BinaryPrimitives.ReadUInt16BigEndian(format4[6..]) / 2;
        var ends = format4[14..];
        var starts = ends[(2 * segments + 2)..];
        var deltas = starts[(2 * segments)..];
        var rangeOffsets = deltas[(2 * segments)..];
        var characters = new HashSet<int>();
        for (var s = 0; s < segments; s++)
        {
            int start = BinaryPrimitives.ReadUInt16BigEndian(starts[(2 * s)..]);
            int end = BinaryPrimitives.ReadUInt16BigEndian(ends[(2 * s)..]);
            var delta = BinaryPrimitives.ReadInt16BigEndian(deltas[(2 * s)..]);
            int rangeOffset = BinaryPrimitives.ReadUInt16BigEndian(rangeOffsets[(2 * s)..]);
            for (var c = start; c <= end && c != 0xFFFF; c++)
            {
                // With no range offset the glyph is the character plus the delta; otherwise it is read
                // from the glyph array the offset points into, where 0 means no glyph.
                var glyph = rangeOffset == 0 ? c : BinaryPrimitives.ReadUInt16BigEndian(rangeOffsets[(2 * s + rangeOffset + 2 * (c - start))..]);
                if (glyph != 0 && ((glyph + delta) & 0xFFFF) != 0)
                {
                    characters.Add(c);
                }
            }
        }

        return characters;
    }

    private static ReadOnlySpan<byte> Table(ReadOnlySpan<byte> font, string tag)
    {
        var wanted = Encoding.ASCII.GetBytes(tag);
        for (var i = 0; i < BinaryPrimitives.ReadUInt16BigEndian(font[4..]); i++)
        {
            var record = font.Slice(12 + 16 * i, 16);
            if (record[..4].SequenceEqual(wanted))
            {
                return font.Slice((int)BinaryPrimitives.ReadUInt32BigEndian(record[8..]), (int)BinaryPrimitives.ReadUInt32BigEndian(record[12..]));
            }
        }

        throw new InvalidOperationException($"The font has no {tag} table.");
    }
}
