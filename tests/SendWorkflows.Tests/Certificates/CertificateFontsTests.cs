using SendWorkflows.Certificates;

namespace SendWorkflows.Tests.Certificates;

/// <summary>The small Latin faces certificates are drawn with when they can be, and when they cannot.</summary>
public sealed class CertificateFontsTests
{
    private static readonly CertificateFonts Fonts = new();

    [Theory]
    [InlineData("Siân Ó Dálaigh")]
    [InlineData("Łukasz Wróbel")]
    [InlineData("Nguyễn Thị Hương")]
    [InlineData("Zoë Brontë-Ødegaard")]
    [InlineData("Gwenllïan Ŵyn ap Rhŷs")]
    [InlineData("Kealoha Ka\u02BBaha\u02BBāina")]
    [InlineData("Jose\u0301 Mun\u0303oz")] // accents as combining marks
    [InlineData("Certificate number SW-7K3M \u2013 \u201Cverified\u201D at https://send.example.org/verify/7K3M-9QZ2-X4TB")]
    public void the_latin_faces_cover_latin_names_accents_and_punctuation(string text) =>
        Assert.True(CertificateFonts.LatinCovers([text]));

    [Theory]
    [InlineData("Олена Коваленко")]
    [InlineData("Νίκος Παπαδόπουλος")]
    [InlineData("Siân and Олена")]
    [InlineData("李小龙")]
    [InlineData("Amelia \U0001F600")]
    public void any_character_outside_the_latin_faces_sends_the_certificate_to_the_whole_face(string text) =>
        Assert.False(CertificateFonts.LatinCovers(["SEND and Inclusion Training Programme", text]));

    [Theory]
    [InlineData("DejaVuSans-Latin", "DejaVuSans")]
    [InlineData("DejaVuSans-Bold-Latin", "DejaVuSans-Bold")]
    public void every_character_of_a_latin_face_is_in_the_whole_face_too(string latin, string whole)
    {
        var small = CertificateFonts.CharacterMap(Fonts.GetFont(latin));
        var all = CertificateFonts.CharacterMap(Fonts.GetFont(whole));
        Assert.True(small.Count > 900, $"{latin} maps only {small.Count} characters.");
        Assert.Empty(small.Except(all));
    }
}
