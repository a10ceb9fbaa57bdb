using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SendWorkflows.Programmes;

/// <summary>
/// ISO 8601 durations as programme documents write them (<c>P7D</c>, <c>PT5S</c>, <c>P2W</c>).
/// Only fixed-length units are accepted: years and months vary in length, so a programme says
/// <c>P182D</c> rather than <c>P6M</c> and every enrolment gets exactly the same window.
/// </summary>
public static partial class IsoDuration
{
    [GeneratedRegex(@"^P(?:(?<w>[0-9]+)W)?(?:(?<d>[0-9]+)D)?(?:T(?:(?<h>[0-9]+)H)?(?:(?<m>[0-9]+)M)?(?:(?<s>[0-9]+(?:\.[0-9]{1,7})?)S)?)?\z",
        RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    [GeneratedRegex(@"^P(?:[0-9]+Y|(?:[0-9]+W)?(?:[0-9]+D)?[0-9]+M)", RegexOptions.CultureInvariant)]
    private static partial Regex CalendarUnits();

    public static bool TryParse(string? text, out TimeSpan duration, out string? error)
    {
        duration = TimeSpan.Zero;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "must be an ISO 8601 duration such as P7D or PT5S.";
            return false;
        }

        if (CalendarUnits().IsMatch(text))
        {
            error = $"'{text}' uses years or months, which vary in length; use days or weeks instead (for example P182D).";
            return false;
        }

        var match = Pattern().Match(text);
        if (!match.Success || text == "P" || text.EndsWith('T'))
        {
            error = $"'{text}' is not an ISO 8601 duration such as P7D, PT12H or PT5S.";
            return false;
        }

        try
        {
            var ticks = checked(
                Part(match, "w") * TimeSpan.TicksPerDay * 7 +
                Part(match, "d") * TimeSpan.TicksPerDay +
                Part(match, "h") * TimeSpan.TicksPerHour +
                Part(match, "m") * TimeSpan.TicksPerMinute);
            if (match.Groups["s"].Success)
            {
                var seconds = decimal.Parse(match.Groups["s"].Value, CultureInfo.InvariantCulture);
                ticks = checked(ticks + (long)(seconds * TimeSpan.TicksPerSecond));
            }

            duration = TimeSpan.FromTicks(ticks);
        }
        catch (OverflowException)
        {
            error = $"'{text}' is too long a duration.";
            return false;
        }

        return true;
    }

    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
        {
            return "PT0S";
        }

        var sb = new StringBuilder("P");
        if (duration.Days > 0)
        {
            sb.Append(duration.Days.ToString(CultureInfo.InvariantCulture)).Append('D');
        }

        var rest = duration - TimeSpan.FromDays(duration.Days);
        if (rest > TimeSpan.Zero)
        {
            sb.Append('T');
            if (rest.Hours > 0)
            {
                sb.Append(rest.Hours.ToString(CultureInfo.InvariantCulture)).Append('H');
            }

            if (rest.Minutes > 0)
            {
                sb.Append(rest.Minutes.ToString(CultureInfo.InvariantCulture)).Append('M');
            }

            var seconds = rest - new TimeSpan(rest.Hours, rest.Minutes, 0);
            if (seconds > TimeSpan.Zero)
            {
                sb.Append(((decimal)seconds.Ticks / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture)).Append('S');
            }
        }

        return sb.ToString();
    }

    private static long Part(Match match, string group) =>
        match.Groups[group].Success ? long.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
}
