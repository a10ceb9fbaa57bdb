using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;

namespace SendWorkflows.Reports;

/// <summary>
/// The school report as a spreadsheet would open it: UTF-8 with a byte order mark (so Excel reads
/// names like Siân correctly), CRLF, and every value in double quotes. Values come from schools'
/// own systems, so a name may be <c>=HYPERLINK(…)</c>: following the OWASP guidance on CSV
/// injection, a value that begins with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, a tab or a carriage
/// return is written with a leading <c>'</c>, so a spreadsheet shows it as text and never runs it.
/// Quoting every value also keeps a <c>;</c> or <c>,</c> inside a value from starting a new cell
/// in a spreadsheet that splits on either.
/// </summary>
public static class ReportCsv
{
    public const string ContentType = "text/csv; charset=utf-8";

    public static readonly IReadOnlyList<string> Columns =
    [
        "enrolmentId", "programmeId", "externalId", "givenName", "familyName", "email", "role", "status", "modulesDone", "modulesRequired",
        "sessionAttendedAt", "sessionBookedFor", "enrolledAt", "deadline", "completedAt", "lastNudgeAt", "nextNudgeAt", "remindersOff",
        "emailBouncedAt", "behind", "certificateNumber", "certificateStatus",
    ];

    private static readonly CsvConfiguration Configuration = new(CultureInfo.InvariantCulture)
    {
        NewLine = "\r\n",
        ShouldQuote = _ => true,
        InjectionOptions = InjectionOptions.Escape,
        InjectionCharacters = ['=', '+', '-', '@', '\t', '\r'],
        InjectionEscapeCharacter = '\'',
    };

    public static async Task WriteAsync(Stream body, IAsyncEnumerable<SchoolReport.Person> people, CancellationToken ct)
    {
        await using var text = new StreamWriter(body, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true), 16 * 1024, leaveOpen: true);
        await using var csv = new CsvWriter(text, Configuration, leaveOpen: true);
        foreach (var column in Columns)
        {
            csv.WriteField(column);
        }

        await csv.NextRecordAsync();
        var rows = 0;
        await foreach (var p in people.WithCancellation(ct))
        {
            string?[] values =
            [
                p.EnrolmentId.ToString(), p.ProgrammeId, p.ExternalId, p.GivenName, p.FamilyName, p.Email, Name(p.Role), Name(p.Status),
                Number(p.ModulesDone), Number(p.ModulesRequired), Moment(p.SessionAttendedAt), Moment(p.SessionBookedFor), Moment(p.EnrolledAt),
                Moment(p.Deadline), Moment(p.CompletedAt), Moment(p.LastNudgeAt), Moment(p.NextNudgeAt), p.RemindersOff ? "true" : "false",
                Moment(p.EmailBouncedAt), p.Behind is { } behind ? Name(behind) : null, p.CertificateNumber, p.CertificateStatus,
            ];
            foreach (var value in values)
            {
                csv.WriteField(value ?? "");
            }

            await csv.NextRecordAsync();
            if (++rows % 500 == 0)
            {
                await csv.FlushAsync();
            }
        }

        await csv.FlushAsync();
        await text.FlushAsync(ct);
    }

    /// <summary>The same names the JSON report uses: <c>in_progress</c>, <c>teaching_assistant</c>.</summary>
    private static string Name<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>As in the JSON: ISO 8601 in UTC.</summary>
    private static string? Moment(DateTimeOffset? at) =>
        at?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}
