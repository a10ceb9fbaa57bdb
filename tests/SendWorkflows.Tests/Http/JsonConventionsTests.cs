using System.Globalization;
using System.Text.Json;
using SendWorkflows.Http;

namespace SendWorkflows.Tests.Http;

/// <summary>
/// The API's JSON conventions for dates and text, on both of their paths: the in-place reading of the
/// common case and the general one for everything else must agree, and refuse the same things.
/// </summary>
public sealed class JsonConventionsTests
{
    private sealed record Dated(DateTimeOffset At, string Text);

    private static Dated Read(string json) => JsonSerializer.Deserialize<Dated>(json, JsonBody.Options)!;

    [Theory]
    [InlineData("2026-11-22T09:30:00Z")]
    [InlineData("2026-11-22T09:30:00z")]
    [InlineData("2026-11-22T09:30:00.1Z")]
    [InlineData("2026-11-22T09:30:00.1234567Z")]
    [InlineData("2026-11-22T09:30:00+01:00")]
    [InlineData("2026-11-22T09:30:00.25-05:30")]
    [InlineData("2026-03-29T01:30:00+00:00")]
    public void a_date_with_an_offset_reads_as_the_general_parser_reads_it(string text)
    {
        var expected = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

        var plain = Read($$"""{"at":"{{text}}","text":"x"}""").At;
        // The same date with its first digit escaped takes the general path.
        var escaped = Read($$"""{"at":"\u0032{{text[1..]}}","text":"x"}""").At;

        Assert.Equal(expected, plain);
        Assert.Equal(expected.Offset, plain.Offset);
        Assert.Equal(expected, escaped);
        Assert.Equal(expected.Offset, escaped.Offset);
    }

    [Theory]
    [InlineData("2026-11-22T09:30:00")]
    [InlineData("2026-11-22")]
    [InlineData("22/11/2026 09:30Z")]
    [InlineData("2026-11-22T09:30:00+0100")]
    [InlineData("not a date")]
    public void a_date_without_an_explicit_offset_is_refused(string text)
    {
        var e = Assert.Throws<JsonException>(() => Read($$"""{"at":"{{text}}","text":"x"}"""));
        Assert.Contains("$.at", e.Path ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void text_with_a_nul_is_refused_and_other_escapes_are_read()
    {
        Assert.Throws<JsonException>(() => Read("""{"at":"2026-11-22T09:30:00Z","text":"a\u0000b"}"""));
        Assert.Equal("A\tb\u00e9", Read("""{"at":"2026-11-22T09:30:00Z","text":"\u0041\tb\u00e9"}""").Text);
        Assert.Equal("plain", Read("""{"at":"2026-11-22T09:30:00Z","text":"plain"}""").Text);
    }

    [Theory]
    [InlineData("2026-11-22T09:30:00Z", "2026-11-22T09:30:00Z")]
    [InlineData("2026-11-22T09:30:00.1200000Z", "2026-11-22T09:30:00.12Z")]
    [InlineData("2026-11-22T10:30:00.1234567+01:00", "2026-11-22T09:30:00.1234567Z")]
    [InlineData("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999Z")]
    public void a_date_is_written_in_utc_with_only_the_fraction_it_has(string given, string written)
    {
        var at = DateTimeOffset.Parse(given, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

        var json = JsonSerializer.Serialize(new Dated(at, "x"), JsonBody.Options);

        Assert.Equal($$"""{"at":"{{written}}","text":"x"}""", json);
    }
}
