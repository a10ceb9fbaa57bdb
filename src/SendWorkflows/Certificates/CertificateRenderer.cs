using System.Buffers;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using PdfSharp;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;
using PdfSharp.UniversalAccessibility;
using QRCoder;

namespace SendWorkflows.Certificates;

/// <summary>
/// Renders a certificate as a one-page A4 landscape PDF with PDFsharp. The text is real text in an
/// embedded font, laid out in a tagged structure (headings, paragraphs, a list of modules, the QR
/// code as a figure with alternative text, decoration marked as artifacts), with title, author,
/// subject and language in the metadata. Rendering is deterministic: the dates and document id in
/// the file come from the certificate, so the same certificate always gives the same bytes.
/// </summary>
public sealed class CertificateRenderer
{
    private const double Width = 842;   // A4 landscape, in points
    private const double Height = 595;
    private const double Margin = 36;

    private static readonly Lock InitialisationLock = new();
    private static bool _initialised;
    private static readonly Lazy<List<ConstructorInfo>> PdfSharpConstructors = new(KeepReflectionWarm);

    private static readonly XColor Ink = XColor.FromArgb(0x0b, 0x0c, 0x0c);
    private static readonly XColor Accent = XColor.FromArgb(0x1d, 0x70, 0xb8);

    private readonly Lazy<(Typefaces Latin, Typefaces EveryScript)> _fonts;

    public CertificateRenderer(IConfiguration configuration)
    {
        InitialiseLibrary(configuration["Certificates:PdfSharpLicense"]);
        // The fonts are read, and PDFsharp's types looked through, for the first certificate rather than
        // at start-up: a cold instance need not spend that time before it answers (reading and measuring
        // the fonts is about 35 ms).
        _fonts = new(() =>
        {
            _ = PdfSharpConstructors.Value;
            return (new Typefaces(CertificateFonts.LatinFamily), new Typefaces(CertificateFonts.Family));
        });
    }

    /// <summary>The sizes and weights a certificate uses, all in one family.</summary>
    private sealed class Typefaces(string family)
    {
        public XFont Issuer { get; } = new(family, 12, XFontStyleEx.Regular);
        public XFont Title { get; } = new(family, 30, XFontStyleEx.Bold);
        public XFont Body { get; } = new(family, 13, XFontStyleEx.Regular);
        public XFont Name { get; } = new(family, 28, XFontStyleEx.Bold);
        public XFont Programme { get; } = new(family, 18, XFontStyleEx.Bold);
        public XFont Heading { get; } = new(family, 12, XFontStyleEx.Bold);
        public XFont Small { get; } = new(family, 10, XFontStyleEx.Regular);

        /// <summary>The font, shrunk as far as needed for a long name or title to fit on its line.</summary>
        public XFont Fit(XGraphics gfx, string text, XFont font, double width)
        {
            var measured = gfx.MeasureString(text, font).Width;
            if (measured <= width)
            {
                return font;
            }

            var size = Math.Max(6, Math.Floor(font.Size * width / measured * 10) / 10);
            return new XFont(family, size, font.Bold ? XFontStyleEx.Bold : XFontStyleEx.Regular);
        }
    }

    /// <summary>
    /// PDFsharp's licence and font resolver are process-wide and can be set once. A commercial
    /// licence (base64, <c>Certificates:PdfSharpLicense</c>) is used when configured; otherwise the
    /// AGPL licence, under which this project is itself licensed.
    /// </summary>
    private static void InitialiseLibrary(string? commercialLicence)
    {
        lock (InitialisationLock)
        {
            if (_initialised)
            {
                return;
            }

            if (string.IsNullOrWhiteSpace(commercialLicence))
            {
                PdfSharpLicense.SetAgplLicense();
            }
            else
            {
                PdfSharpLicense.LoadLicense(commercialLicence);
            }

            GlobalFontSettings.FontResolver ??= new CertificateFonts();
            _initialised = true;
        }
    }

    /// <summary>
    /// PDFsharp makes most of a document's objects with <c>Type.GetConstructor(...).Invoke</c>, and
    /// reads and writes some document properties through reflection too. The runtime keeps what
    /// reflection has learnt about a type, compiled invokers included, only as long as something
    /// refers to it, so the collections that rendering causes kept throwing it away and the next
    /// certificate compiled it all again: a steady stream of compilation on every core. Holding one
    /// constructor of each PDFsharp type keeps that knowledge for the life of the process.
    /// </summary>
    private static List<ConstructorInfo> KeepReflectionWarm()
    {
        const BindingFlags any = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var constructors = new List<ConstructorInfo>();
        foreach (var type in typeof(PdfDocument).Assembly.GetTypes())
        {
            if (type.IsClass && !type.IsGenericTypeDefinition && type.GetConstructors(any).FirstOrDefault() is { } constructor)
            {
                constructors.Add(constructor);
            }
        }

        return constructors;
    }

    public byte[] Render(CertificateDetails d)
    {
        var document = new PdfDocument();
        var fixedDate = d.CompletedAt.UtcDateTime;
        document.Info.Title = $"{d.CertificateTitle}: {d.Name}";
        document.Info.Author = d.Issuer;
        document.Info.Subject = $"{d.ProgrammeTitle}, certificate {d.Number}";
        document.Info.Creator = "SendWorkflows";
        document.Info.CreationDate = fixedDate;
        document.Info.ModificationDate = fixedDate;
        var id = DocumentId(d);
        document.Internals.FirstDocumentID = id;
        document.Internals.SecondDocumentID = id;
        document.ViewerPreferences.DisplayDocTitle = true;
        // Compressing the embedded font subset is most of the work of a save; the fastest level
        // costs a few kilobytes a certificate and roughly doubles how many can be rendered.
        document.Options.FlateEncodeMode = PdfFlateEncodeMode.BestSpeed;

        var accessibility = UAManager.ForDocument(document);
        accessibility.SetDocumentLanguage("en-GB");
        var page = document.AddPage();
        page.Size = PageSize.A4;
        page.Orientation = PageOrientation.Landscape;

        // The small Latin faces when they have every character; the whole face otherwise.
        var fonts = CertificateFonts.LatinCovers(TextsOf(d)) ? _fonts.Value.Latin : _fonts.Value.EveryScript;
        using (var gfx = XGraphics.FromPdfPage(page))
        {
            var tags = accessibility.StructureBuilder;
            tags.BeginElement(PdfGroupingElementTag.Document);
            DrawFrame(gfx, tags);
            DrawHeader(gfx, tags, fonts, d);
            DrawModules(gfx, tags, fonts, d);
            DrawSessionAndSignature(gfx, tags, fonts, d);
            DrawNumberAndCode(gfx, tags, fonts, d);
            tags.End();
        }

        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        var pdf = output.ToArray();
        MakeDeterministic(pdf, d);
        return pdf;
    }

    private static ReadOnlySpan<byte> SubsetTagEnd => "+DejaVu"u8;
    private static ReadOnlySpan<byte> XmpDocumentId => "<xmpMM:DocumentID>uuid:"u8;
    private static ReadOnlySpan<byte> XmpInstanceId => "<xmpMM:InstanceID>uuid:"u8;
    private static readonly SearchValues<byte> UuidCharacters = SearchValues.Create("0123456789abcdef-"u8);

    /// <summary>
    /// PDFsharp draws three things at random on every save: the six-letter tag of each embedded font
    /// subset and the XMP document and instance UUIDs. All three sit outside compressed streams and
    /// have a fixed length, so they are overwritten in place with values derived from the certificate;
    /// no offset moves, so the cross-reference table stays valid. The bytes are patched directly: a
    /// text copy of the file would put several large strings on the heap for every certificate.
    /// </summary>
    private static void MakeDeterministic(Span<byte> pdf, CertificateDetails d)
    {
        var tags = new List<(byte[] Drawn, byte[] Stable)>(2);
        for (var at = pdf.IndexOf(SubsetTagEnd); at >= 0; at = Next(pdf, at + SubsetTagEnd.Length, SubsetTagEnd))
        {
            // A subset name is "/" + six capital letters + "+" + the font's name.
            var start = at - 7;
            if (start < 0 || pdf[start] != (byte)'/' || pdf.Slice(start + 1, 6).ContainsAnyExceptInRange((byte)'A', (byte)'Z'))
            {
                continue;
            }

            var drawn = pdf.Slice(start + 1, 6);
            var index = 0;
            while (index < tags.Count && !drawn.SequenceEqual(tags[index].Drawn))
            {
                index++;
            }

            if (index == tags.Count)
            {
                var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{d.Number}/{d.Version}/font/{tags.Count}"));
                var stable = new byte[6];
                for (var i = 0; i < stable.Length; i++)
                {
                    stable[i] = (byte)('A' + hash[i] % 26);
                }

                tags.Add((drawn.ToArray(), stable));
            }

            tags[index].Stable.CopyTo(drawn);
        }

        Span<byte> id = stackalloc byte[36];
        var written = Encoding.ASCII.GetBytes(Guid.ParseExact(DocumentId(d), "N").ToString("D", CultureInfo.InvariantCulture), id);
        ReplaceXmpUuid(pdf, XmpDocumentId, id[..written]);
        ReplaceXmpUuid(pdf, XmpInstanceId, id[..written]);
    }

    private static int Next(ReadOnlySpan<byte> pdf, int from, ReadOnlySpan<byte> value)
    {
        var found = pdf[from..].IndexOf(value);
        return found < 0 ? -1 : from + found;
    }

    private static void ReplaceXmpUuid(Span<byte> pdf, ReadOnlySpan<byte> element, ReadOnlySpan<byte> uuid)
    {
        for (var at = pdf.IndexOf(element); at >= 0; at = Next(pdf, at + element.Length, element))
        {
            var value = pdf.Slice(at + element.Length);
            if (value.Length > uuid.Length && value[uuid.Length] == (byte)'<' && !value[..uuid.Length].ContainsAnyExcept(UuidCharacters))
            {
                uuid.CopyTo(value);
            }
        }
    }

    private static void DrawFrame(XGraphics gfx, StructureBuilder tags)
    {
        tags.BeginArtifact();
        gfx.DrawRectangle(new XPen(Accent, 3), Margin - 14, Margin - 14, Width - 2 * (Margin - 14), Height - 2 * (Margin - 14));
        gfx.DrawRectangle(new XPen(Accent, 0.75), Margin - 8, Margin - 8, Width - 2 * (Margin - 8), Height - 2 * (Margin - 8));
        tags.End();
    }

    private static void DrawHeader(XGraphics gfx, StructureBuilder tags, Typefaces fonts, CertificateDetails d)
    {
        Paragraph(gfx, tags, d.Issuer, fonts.Issuer, Accent, 52);
        tags.BeginElement(PdfBlockLevelElementTag.Heading1);
        Centred(gfx, d.CertificateTitle, fonts.Title, Ink, 72);
        tags.End();
        Paragraph(gfx, tags, "This is to certify that", fonts.Body, Ink, 124);
        tags.BeginElement(PdfBlockLevelElementTag.Heading2);
        Centred(gfx, d.Name, fonts.Fit(gfx, d.Name, fonts.Name, Width - 2 * Margin - 40), Ink, 146);
        tags.End();
        Paragraph(gfx, tags, "has completed", fonts.Body, Ink, 188);
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        Centred(gfx, d.ProgrammeTitle, fonts.Fit(gfx, d.ProgrammeTitle, fonts.Programme, Width - 2 * Margin - 40), Ink, 210);
        tags.End();
    }

    private static void DrawModules(XGraphics gfx, StructureBuilder tags, Typefaces fonts, CertificateDetails d)
    {
        const double left = Margin + 30;
        const double columnWidth = 390;
        const int maxLines = 9;
        var y = 252.0;
        tags.BeginElement(PdfBlockLevelElementTag.Heading3);
        gfx.DrawString("Modules completed", fonts.Heading, new XSolidBrush(Ink), new XRect(left, y, columnWidth, 16), XStringFormats.TopLeft);
        tags.End();
        y += 20;

        var shown = d.Modules.Count <= maxLines ? d.Modules : d.Modules.Take(maxLines - 1).ToList();
        tags.BeginElement(PdfBlockLevelElementTag.List);
        foreach (var module in shown)
        {
            tags.BeginElement(PdfBlockLevelElementTag.ListItem);
            var line = $"{module.Title} ({Minutes(module.CpdMinutes)})";
            gfx.DrawString(line, fonts.Fit(gfx, line, fonts.Small, columnWidth), new XSolidBrush(Ink), new XRect(left, y, columnWidth, 14), XStringFormats.TopLeft);
            tags.End();
            y += 15;
        }

        if (shown.Count < d.Modules.Count)
        {
            tags.BeginElement(PdfBlockLevelElementTag.ListItem);
            gfx.DrawString($"and {d.Modules.Count - shown.Count} more modules", fonts.Small, new XSolidBrush(Ink), new XRect(left, y, columnWidth, 14), XStringFormats.TopLeft);
            tags.End();
            y += 15;
        }

        tags.End();
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        gfx.DrawString($"Total continuing professional development: {Hours(d.TotalCpdMinutes)}", fonts.Heading, new XSolidBrush(Ink),
            new XRect(left, y + 6, columnWidth, 16), XStringFormats.TopLeft);
        tags.End();
    }

    private static void DrawSessionAndSignature(XGraphics gfx, StructureBuilder tags, Typefaces fonts, CertificateDetails d)
    {
        const double left = 480;
        const double columnWidth = Width - Margin - 30 - left;
        var y = 252.0;
        if (d.LiveSession is { } session)
        {
            tags.BeginElement(PdfBlockLevelElementTag.Heading3);
            gfx.DrawString("Live session attended", fonts.Heading, new XSolidBrush(Ink), new XRect(left, y, columnWidth, 16), XStringFormats.TopLeft);
            tags.End();
            y += 20;
            foreach (var line in new[] { session.Title, session.Date, session.Location })
            {
                tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
                gfx.DrawString(line, fonts.Fit(gfx, line, fonts.Small, columnWidth), new XSolidBrush(Ink), new XRect(left, y, columnWidth, 14), XStringFormats.TopLeft);
                tags.End();
                y += 15;
            }

            y += 12;
        }

        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        gfx.DrawString($"Completed on {d.CompletedOn}", fonts.Heading, new XSolidBrush(Ink), new XRect(left, y, columnWidth, 16), XStringFormats.TopLeft);
        tags.End();
        y += 34;
        tags.BeginArtifact();
        gfx.DrawLine(new XPen(Ink, 0.5), left, y, left + 200, y);
        tags.End();
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        var signedBy = d.Signatory is null ? d.Issuer : $"{d.Signatory}, {d.Issuer}";
        gfx.DrawString(signedBy, fonts.Fit(gfx, signedBy, fonts.Small, columnWidth), new XSolidBrush(Ink), new XRect(left, y + 4, columnWidth, 14), XStringFormats.TopLeft);
        tags.End();
    }

    private static void DrawNumberAndCode(XGraphics gfx, StructureBuilder tags, Typefaces fonts, CertificateDetails d)
    {
        const double size = 92;
        var codeX = Width - Margin - 10 - size;
        var codeY = Height - Margin - 10 - size;
        const double left = Margin + 30;
        var textWidth = codeX - left - 20;
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        gfx.DrawString($"Certificate number {d.Number}", fonts.Heading, new XSolidBrush(Ink), new XRect(left, Height - Margin - 52, textWidth, 16), XStringFormats.TopLeft);
        tags.End();
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        var check = $"Check this certificate at {d.VerifyUrl}";
        gfx.DrawString(check, fonts.Fit(gfx, check, fonts.Small, textWidth), new XSolidBrush(Ink), new XRect(left, Height - Margin - 32, textWidth, 14), XStringFormats.TopLeft);
        tags.End();

        var area = new XRect(codeX, codeY, size, size);
        tags.BeginElement(PdfIllustrationElementTag.Figure, $"QR code linking to {d.VerifyUrl}", area);
        gfx.DrawRectangles(XBrushes.Black, QrBlocks(d.VerifyUrl, area));
        tags.End();
    }

    /// <summary>
    /// The QR code as filled rectangles, each a block of dark modules: a run along a row, carried
    /// down the rows below that repeat it. That is a third as many shapes as modules, each written as
    /// one rectangle operator rather than a four-cornered path.
    /// </summary>
    private static XRect[] QrBlocks(string text, XRect area)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(text, QRCodeGenerator.ECCLevel.M);
        var matrix = data.ModuleMatrix;
        var modules = matrix.Count;
        var cell = area.Width / modules;
        var taken = new bool[modules, modules];
        var blocks = new List<XRect>(modules * 4);
        for (var row = 0; row < modules; row++)
        {
            for (var column = 0; column < modules; column++)
            {
                if (!matrix[row][column] || taken[row, column])
                {
                    continue;
                }

                var width = 1;
                while (column + width < modules && matrix[row][column + width] && !taken[row, column + width])
                {
                    width++;
                }

                var height = 1;
                while (row + height < modules && Dark(matrix[row + height], column, width) && !Taken(taken, row + height, column, width))
                {
                    height++;
                }

                for (var r = row; r < row + height; r++)
                {
                    for (var c = column; c < column + width; c++)
                    {
                        taken[r, c] = true;
                    }
                }

                blocks.Add(new XRect(area.X + column * cell, area.Y + row * cell, width * cell, height * cell));
                column += width - 1;
            }
        }

        return [.. blocks];

        static bool Dark(System.Collections.BitArray bits, int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                if (!bits[i])
                {
                    return false;
                }
            }

            return true;
        }

        static bool Taken(bool[,] taken, int row, int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                if (taken[row, i])
                {
                    return true;
                }
            }

            return false;
        }
    }

    private static void Paragraph(XGraphics gfx, StructureBuilder tags, string text, XFont font, XColor colour, double y)
    {
        tags.BeginElement(PdfBlockLevelElementTag.Paragraph);
        Centred(gfx, text, font, colour, y);
        tags.End();
    }

    private static void Centred(XGraphics gfx, string text, XFont font, XColor colour, double y) =>
        gfx.DrawString(text, font, new XSolidBrush(colour), new XRect(Margin, y, Width - 2 * Margin, font.Height + 4), XStringFormats.TopCenter);

    /// <summary>Everything a certificate draws that comes from its details; the rest of its wording is ASCII.</summary>
    private static IEnumerable<string?> TextsOf(CertificateDetails d) =>
    [
        d.Issuer, d.CertificateTitle, d.Name, d.ProgrammeTitle, d.Signatory, d.CompletedOn, d.Number, d.VerifyUrl,
        d.LiveSession?.Title, d.LiveSession?.Date, d.LiveSession?.Location, .. d.Modules.Select(m => m.Title),
    ];

    private static string Minutes(int minutes) => minutes == 1 ? "1 minute" : $"{minutes} minutes";

    private static string Hours(int minutes)
    {
        var (h, m) = (minutes / 60, minutes % 60);
        var hours = h == 1 ? "1 hour" : $"{h} hours";
        return m == 0 ? hours : h == 0 ? Minutes(m) : $"{hours} {Minutes(m)}";
    }

    /// <summary>The file identifier PDF requires, derived from the certificate instead of drawn at random.</summary>
    private static string DocumentId(CertificateDetails d)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{d.Number}/{d.Version}"));
        return new Guid(hash.AsSpan(0, 16)).ToString("N", CultureInfo.InvariantCulture).ToUpperInvariant();
    }
}
