using SendWorkflows.Programmes;

namespace SendWorkflows.Tests.Programmes;

public sealed class IsoDurationTests
{
    [Theory]
    [InlineData("P7D", 7 * 24 * 3600.0)]
    [InlineData("P182D", 182 * 24 * 3600.0)]
    [InlineData("PT5S", 5.0)]
    [InlineData("PT2S", 2.0)]
    [InlineData("PT0.5S", 0.5)]
    [InlineData("P2W", 14 * 24 * 3600.0)]
    [InlineData("PT1H30M", 5400.0)]
    [InlineData("P1DT12H", 36 * 3600.0)]
    public void reads_fixed_length_durations(string text, double seconds)
    {
        Assert.True(IsoDuration.TryParse(text, out var duration, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
    }

    [Theory]
    [InlineData("P6M", "months")]
    [InlineData("P1Y", "years")]
    [InlineData("7 days", "ISO 8601")]
    [InlineData("P", "ISO 8601")]
    [InlineData("PT", "ISO 8601")]
    [InlineData("P-1D", "ISO 8601")]
    [InlineData("p7d", "ISO 8601")]
    [InlineData("", "ISO 8601")]
    [InlineData("P99999999999999999999D", "too long")]
    public void refuses_anything_else_with_a_reason(string text, string reasonMentions)
    {
        Assert.False(IsoDuration.TryParse(text, out _, out var error));
        Assert.Contains(reasonMentions, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("P7D")]
    [InlineData("PT5S")]
    [InlineData("P1DT12H30M")]
    [InlineData("PT0.25S")]
    public void formats_back_to_the_same_duration(string text)
    {
        IsoDuration.TryParse(text, out var duration, out _);
        Assert.Equal(text, IsoDuration.Format(duration));
    }
}
