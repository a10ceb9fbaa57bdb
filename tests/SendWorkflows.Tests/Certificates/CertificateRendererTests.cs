using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using SendWorkflows.Certificates;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Certificates;

/// <summary>The PDF as a reader, a screen reader and a phone camera see it, checked with poppler and zbar.</summary>
public sealed class CertificateRendererTests
{
    private static readonly CertificateRenderer Renderer = new(new ConfigurationBuilder().Build());

    public static CertificateDetails Details(string given = "Siân", string family = "Ó Dálaigh", string? number = null) => new(
        number ?? CertificateNumber.New(), 1, given, family, "send-inclusion-core", "SEND and inclusion: core training",
        "Certificate of completion", "SEND and Inclusion Training Programme", "Programme Director",
        [
            new("Inclusion and the SEND Code of Practice", 60), new("Early identification of need", 45),
            new("Adaptive teaching for a wide range of needs", 60), new("Speech, language and communication needs", 45),
            new("Visual impairment", 30), new("Assistive technology and access", 30), new("Working effectively with parents and carers", 45),
        ],
        new("SEND and inclusion: live session", "1 December 2026", "Leeds Civic Hall"),
        new DateTimeOffset(2026, 12, 1, 15, 0, 0, TimeSpan.Zero), "1 December 2026", "https://send.example.org/verify/7K3M-9QZ2-X4TB");

    [Theory]
    [InlineData("Siân", "Ó Dálaigh")]
    [InlineData("Łukasz", "Wróbel")]
    [InlineData("Nguyễn Thị", "Hương")]
    [InlineData("Zoë", "Brontë-Ødegaard")]
    public async Task every_name_comes_back_out_of_the_pdf_as_real_text(string given, string family)
    {
        var text = await ExternalTool.PdfTextAsync(Renderer.Render(Details(given, family)));
        Assert.Contains($"{given} {family}", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Олена", "Коваленко")]
    [InlineData("Νίκος", "Παπαδόπουλος")]
    [InlineData("Siân", "Коваленко-Ó Dálaigh")]
    public async Task a_name_beyond_the_latin_faces_is_drawn_in_the_whole_face_and_comes_back_out(string given, string family)
    {
        var pdf = Renderer.Render(Details(given, family));
        Assert.Contains($"{given} {family}", await ExternalTool.PdfTextAsync(pdf), StringComparison.Ordinal);
        Assert.DoesNotContain("DejaVu#20Sans#20Latin", System.Text.Encoding.Latin1.GetString(pdf), StringComparison.Ordinal);
    }

    [Fact]
    public void a_latin_name_is_drawn_in_the_small_latin_faces()
    {
        var pdf = System.Text.Encoding.Latin1.GetString(Renderer.Render(Details("Nguyễn Thị", "Hương")));
        Assert.Contains("+DejaVu#20Sans#20Latin/", pdf, StringComparison.Ordinal);
        Assert.Contains("+DejaVu#20Sans#20Latin,Bold/", pdf, StringComparison.Ordinal);
    }

    [Fact]
    public async Task the_pdf_says_what_was_completed_when_where_and_by_whom()
    {
        var details = Details();
        var text = await ExternalTool.PdfTextAsync(Renderer.Render(details));
        foreach (var expected in new[]
                 {
                     "Certificate of completion", "SEND and inclusion: core training", "Early identification of need (45 minutes)",
                     "Total continuing professional development: 5 hours 15 minutes", "SEND and inclusion: live session", "Leeds Civic Hall",
                     "Completed on 1 December 2026", "Programme Director, SEND and Inclusion Training Programme",
                     $"Certificate number {details.Number}", details.VerifyUrl,
                 })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task the_pdf_is_one_tagged_a4_landscape_page_with_title_author_and_language()
    {
        var pdf = Renderer.Render(Details());
        var info = await ExternalTool.PdfInfoAsync(pdf);
        Assert.Matches(@"Title:\s+Certificate of completion: Siân Ó Dálaigh", info);
        Assert.Matches(@"Author:\s+SEND and Inclusion Training Programme", info);
        Assert.Matches(@"Tagged:\s+yes", info);
        Assert.Matches(@"Pages:\s+1\b", info);
        Assert.Matches(@"Page size:\s+842 x 595 pts \(A4\)", info);
        Assert.Contains("/Lang(en-GB)", System.Text.Encoding.Latin1.GetString(pdf), StringComparison.Ordinal);
    }

    [Fact]
    public async Task the_qr_code_decodes_to_the_verification_address()
    {
        var details = Details();
        Assert.Equal(details.VerifyUrl, await ExternalTool.PdfQrCodeAsync(Renderer.Render(details)));
    }

    [Fact]
    public void the_same_certificate_always_renders_to_the_same_bytes_and_a_different_one_does_not()
    {
        var details = Details();
        var first = SHA256.HashData(Renderer.Render(details));
        var again = SHA256.HashData(Renderer.Render(details with { }));
        var other = SHA256.HashData(Renderer.Render(details with { Number = CertificateNumber.New() }));
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void certificates_rendered_in_between_leave_a_certificates_bytes_unchanged()
    {
        var details = Details();
        var first = SHA256.HashData(Renderer.Render(details));
        Renderer.Render(Details("Олена", "Коваленко"));
        Renderer.Render(Details("Nguyễn Thị", "Hương"));
        Renderer.Render(Details("Maximiliana Alexandrina Konstantina", "Featherstonehaugh-Cholmondeley-Wolstenholme"));
        Assert.Equal(first, SHA256.HashData(Renderer.Render(details)));
    }

    [Fact]
    public async Task a_very_long_name_still_fits_on_the_page_whole()
    {
        var text = await ExternalTool.PdfTextAsync(Renderer.Render(Details("Maximiliana Alexandrina Konstantina", "Featherstonehaugh-Cholmondeley-Wolstenholme")));
        Assert.Contains("Maximiliana Alexandrina Konstantina Featherstonehaugh-Cholmondeley-Wolstenholme", text, StringComparison.Ordinal);
    }
}
