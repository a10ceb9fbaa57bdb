using System.Globalization;
using System.Text;
using CsvHelper;
using CsvHelper.Configuration;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Http;

namespace SendWorkflows.Enrolments;

/// <summary>
/// A batch of enrolments as a school's MIS exports it: <c>text/csv</c>, UTF-8 with or without a
/// byte order mark, CRLF or LF, values with commas in double quotes, blank lines anywhere. Each
/// data row becomes the same enrolment body a JSON batch would carry, so both go through one
/// validation and one enrolment. A problem with one row stays with that row; only a problem with
/// the file as a whole (no header, a missing column, not UTF-8, too many rows) refuses it whole.
/// </summary>
public static class EnrolmentCsv
{
    public const string MediaType = "text/csv";

    /// <summary>The header of the contract; columns may come in any order, and other columns are ignored.</summary>
    public static readonly IReadOnlyList<string> Columns = ["programmeId", "schoolUrn", "externalId", "givenName", "familyName", "email", "role"];

    public static bool IsCsv(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith(MediaType, StringComparison.OrdinalIgnoreCase) &&
        (type.Length == MediaType.Length || type[MediaType.Length] is ';' or ' ');

    /// <summary>A charset other than UTF-8 named in Content-Type, if any: such a file is refused rather than read wrongly.</summary>
    public static string? OtherCharset(HttpRequest request) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(request.ContentType, out var type) &&
        type.Charset.HasValue && type.Charset.Value is { Length: > 0 } charset &&
        !charset.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase) &&
        !charset.Trim('"').Equals("utf8", StringComparison.OrdinalIgnoreCase)
            ? charset
            : null;

    internal static (IReadOnlyList<EnrolmentEndpoints.BatchRow>? Rows, ProblemHttpResult? Problem) Read(byte[] bytes, int maxRows)
    {
        if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return (null, NotUtf8(1)); // UTF-16, as Excel's "Unicode text" saves
        }

        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        // Strict: a file saved in another encoding is refused, not stored with its names garbled.
        var strictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        using var text = new StreamReader(new MemoryStream(bytes, start, bytes.Length - start, writable: false), strictUtf8,
            detectEncodingFromByteOrderMarks: false);
        var badData = false;
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            Mode = CsvMode.RFC4180,
            DetectDelimiter = false,
            IgnoreBlankLines = true,
            TrimOptions = TrimOptions.None,
            BadDataFound = _ => badData = true,
            MissingFieldFound = null,
        };
        using var parser = new CsvParser(text, configuration);
        var lastLine = 0;
        try
        {
            int[]? columns = null;
            var headerLength = 0;
            var rows = new List<EnrolmentEndpoints.BatchRow>();
            while (parser.Read())
            {
                var record = parser.Record ?? [];
                var line = StartLine(parser, lastLine);
                lastLine = parser.RawRow;
                var wasBad = badData;
                badData = false;
                if (record.All(string.IsNullOrWhiteSpace))
                {
                    continue; // spreadsheets write empty rows as a line of commas
                }

                if (columns is null)
                {
                    var (found, headerProblem) = ReadHeader(record);
                    if (headerProblem is not null)
                    {
                        return (null, headerProblem);
                    }

                    (columns, headerLength) = (found, record.Length);
                    continue;
                }

                if (rows.Count == maxRows)
                {
                    return (null, WrongRowCount(maxRows));
                }

                rows.Add(ToRow(columns, headerLength, record, wasBad, line));
            }

            if (columns is null)
            {
                return (null, Problems.Field("body", $"must be a CSV file whose first line is the header {string.Join(',', Columns)}."));
            }

            return rows.Count == 0 ? (null, WrongRowCount(maxRows)) : (rows, null);
        }
        catch (DecoderFallbackException)
        {
            return (null, NotUtf8(lastLine + 1));
        }
    }

    private static ProblemHttpResult WrongRowCount(int maxRows) =>
        Problems.Field("body", $"must be a CSV header and 1 to {maxRows} rows of enrolments.");

    private static ProblemHttpResult NotUtf8(int line) =>
        Problems.Field("body", $"is not UTF-8 text (at or after line {line}); save the file as CSV UTF-8.", StatusCodes.Status400BadRequest);

    /// <summary>The file line a record starts on: a quoted value may run over several lines, and blank lines are skipped.</summary>
    private static int StartLine(IParser parser, int previousEnd)
    {
        var raw = parser.RawRecord.AsSpan().TrimEnd("\r\n");
        var breaks = raw.Count('\n') + raw.Count('\r') - raw.Count("\r\n");
        return Math.Max(previousEnd + 1, parser.RawRow - breaks);
    }

    private static string Normalise(string column) => column.Trim().Trim('\uFEFF').Trim();

    /// <summary>Where each of <see cref="Columns"/> is in the header: names are matched ignoring case and surrounding spaces.</summary>
    private static (int[] Columns, ProblemHttpResult? Problem) ReadHeader(string[] header)
    {
        var errors = new FieldErrors();
        var names = header.Select(Normalise).ToList();
        var positions = new int[Columns.Count];
        for (var c = 0; c < Columns.Count; c++)
        {
            var column = Columns[c];
            var matches = names.Select((name, i) => (name, i)).Where(n => n.name.Equals(column, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count == 0)
            {
                errors.Add($"header.{column}", $"is missing: the header must name the columns {string.Join(',', Columns)} (in any order).");
            }
            else if (matches.Count > 1)
            {
                errors.Add($"header.{column}", "appears more than once in the header.");
            }
            else
            {
                positions[c] = matches[0].i;
            }
        }

        return errors.Any ? ([], Problems.Invalid(errors)) : (positions, null);
    }

    private static EnrolmentEndpoints.BatchRow ToRow(int[] columns, int headerLength, string[] record, bool badData, int line)
    {
        if (badData)
        {
            return new EnrolmentEndpoints.BatchRow(null, Problems.Field("row",
                "has a double quote inside a value that does not start with one; put the whole value in double quotes and double the quote inside it (\"O\"\"Brien\")."), line);
        }

        if (record.Length > headerLength && record.Skip(headerLength).Any(v => !string.IsNullOrWhiteSpace(v)))
        {
            return new EnrolmentEndpoints.BatchRow(null, Problems.Field("row",
                $"has {record.Length} values but the header names {headerLength} columns; put a value that contains a comma in double quotes."), line);
        }

        // A short row lacks its last values: they are missing, and validation says which are required.
        string? Value(int column) => columns[column] < record.Length ? record[columns[column]].Trim() : null;

        var body = new EnrolmentEndpoints.EnrolmentBody(Value(0), Value(1),
            new EnrolmentEndpoints.StaffBody(Value(2), Value(3), Value(4), Value(5), Value(6)));
        return new EnrolmentEndpoints.BatchRow(body, null, line);
    }
}
