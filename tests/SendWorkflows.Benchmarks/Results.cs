using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SendWorkflows.Benchmarks;

/// <summary>Which way a number is better, so a target can be checked and read.</summary>
public enum Better
{
    Higher,
    Lower,
}

/// <summary>
/// A target: either an absolute bound on the value, or a bound on the value's ratio to the reference
/// measured in the same run (for machines too noisy for absolute numbers to mean much).
/// </summary>
public sealed record Target(double Bound, Better Better, bool OnRatio = false)
{
    public static Target AtLeast(double bound) => new(bound, Better.Higher);

    public static Target AtMost(double bound) => new(bound, Better.Lower);

    public static Target RatioAtLeast(double bound) => new(bound, Better.Higher, OnRatio: true);

    public bool IsMet(double value, double? ratio) =>
        (OnRatio ? ratio : value) is { } measured && (Better == Better.Higher ? measured >= Bound : measured <= Bound);

    public string Describe(string unit) =>
        (Better == Better.Higher ? "≥ " : "≤ ") + (OnRatio
            ? Number.Format(Bound) + " × reference"
            : Number.Format(Bound) + " " + unit);
}

/// <summary>One line of the results: a metric, the reference measured beside it, and whether it met its target.</summary>
public sealed record BenchResult(
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("referenceValue")] double? ReferenceValue,
    [property: JsonPropertyName("ratio")] double? Ratio,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("pass")] bool Pass)
{
    /// <summary>A measured metric; the ratio is value ÷ reference value, whichever way is better.</summary>
    public static BenchResult Of(string metric, double value, string unit, string reference, double? referenceValue, Target target)
    {
        double? ratio = referenceValue is > 0 ? Math.Round(value / referenceValue.Value, 3) : null;
        return new BenchResult(metric, Round(value), unit, reference, referenceValue is { } r ? Round(r) : null, ratio,
            target.Describe(unit), target.IsMet(value, ratio));
    }

    /// <summary>A metric whose scenario failed: no value, and not a pass.</summary>
    public static BenchResult Failed(string metric, string unit, string reference, Target target) =>
        new(metric, null, unit, reference, null, null, target.Describe(unit), false);

    private static double Round(double value) => Math.Round(value, value >= 100 ? 0 : value >= 1 ? 2 : 4);
}

public static class ResultsFile
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(string path, IReadOnlyList<BenchResult> results)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(results, Options) + "\n");
    }

    /// <summary>The same results as a Markdown table (the README's Performance section shows this).</summary>
    public static string Markdown(IReadOnlyList<BenchResult> results)
    {
        var table = new StringBuilder();
        table.AppendLine("| metric | value | reference | reference value | ratio | target | pass |");
        table.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            table.Append(CultureInfo.InvariantCulture,
                $"| `{r.Metric}` | {Show(r.Value, r.Unit)} | {r.Reference} | {Show(r.ReferenceValue, r.Unit)} | {(r.Ratio is { } ratio ? Number.Format(ratio) : "—")} | {r.Target} | {(r.Pass ? "yes" : "**no**")} |\n");
        }

        return table.ToString();
    }

    private static string Show(double? value, string unit) => value is { } v ? $"{Number.Format(v)} {unit}" : "—";
}

internal static class Number
{
    public static string Format(double value) =>
        value.ToString(value >= 100 ? "#,0" : value >= 1 ? "#,0.##" : "0.####", CultureInfo.InvariantCulture);
}
