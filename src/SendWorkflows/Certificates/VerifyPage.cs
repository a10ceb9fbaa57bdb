using SendWorkflows.Http;
using static SendWorkflows.Http.HtmlPage;

namespace SendWorkflows.Certificates;

/// <summary>
/// The public verification page: plain HTML, no scripts, real headings, text that says the status in
/// words (colour only repeats it), and colours that pass WCAG 2.2 AA contrast on white.
/// </summary>
public static class VerifyPage
{
    public static string For(CertificateEndpoints.CertificateCheck c)
    {
        var (heading, explanation, colour) = c.Status switch
        {
            "valid" => ("This certificate is valid", "It was issued by the programme and has not been withdrawn.", "#00703c"),
            "superseded" => ("This certificate has been replaced",
                "A corrected certificate was issued to the same person. This one is no longer current.", "#594d00"),
            _ => ("This certificate has been revoked", "The programme has withdrawn it. It is not valid.", "#d4351c"),
        };
        return Page($"Certificate {c.Number}: {c.Status}", $"""
            <h1>Certificate check</h1>
            <div class="status" style="border-left-color: {colour}">
              <h2>{E(heading)}</h2>
              <p>{E(explanation)}</p>
            </div>
            <dl>
              <dt>Certificate number</dt><dd>{E(c.Number)}</dd>
              <dt>Name</dt><dd>{E(c.Name)}</dd>
              <dt>Programme</dt><dd>{E(c.Programme)}</dd>
              <dt>Completed on</dt><dd>{E(c.CompletedOn)}</dd>
              <dt>Issued by</dt><dd>{E(c.Issuer)}</dd>
              <dt>Status</dt><dd>{E(c.Status)}</dd>
            </dl>
            """);
    }

    public static string NotFound(string number, bool malformed) =>
        Page("Certificate not found", $"""
            <h1>Certificate check</h1>
            <div class="status" style="border-left-color: #d4351c">
              <h2>No certificate was found</h2>
              <p>{(malformed
                  ? $"“{E(number)}” is not a certificate number. Numbers have twelve letters and digits, such as 7K3M-9QZ2-X4TB; please check each character."
                  : $"No certificate has the number {E(number)}.")}</p>
            </div>
            """);
}
