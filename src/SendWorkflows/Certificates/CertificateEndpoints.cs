using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Certificates;

/// <summary>
/// Downloading a certificate by signed link, checking one (by number, as a page or JSON, or by its
/// exact bytes), revoking one, and a school's bulk download. Checking needs no key: anyone holding
/// a certificate may verify it, and sees only name, programme, completion date, issuer and status.
/// </summary>
public static class CertificateEndpoints
{
    public sealed record CertificateCheck(string Number, string Status, string Name, string Programme, string CompletedOn, string Issuer,
        DateTimeOffset? RevokedAt);

    public sealed record BytesCheck(bool Issued, CertificateCheck? Certificate);

    public sealed record RevocationBody(string? Reason);

    private const long MaxPdfBytes = 5 * 1024 * 1024;

    public static void MapCertificates(this IEndpointRouteBuilder app, RouteGroupBuilder api)
    {
        app.MapGet("/certificates/{file}", DownloadAsync).WithTags("Certificates").AllowAnonymous()
            .WithSummary("Download a certificate through a signed, expiring link (from the certificate email or the enrolment's status).");
        app.MapGet("/verify/{number}", VerifyPageAsync).WithTags("Certificates").AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/api/v1/certificates/{number}", VerifyAsync).WithTags("Certificates").AllowAnonymous()
            .WithSummary("Whether a certificate number is genuine: valid, superseded or revoked.");
        app.MapPost("/api/v1/certificates/verify", VerifyBytesAsync).WithTags("Certificates").AllowAnonymous()
            .Accepts<byte[]>("application/pdf")
            .WithSummary("Whether these exact bytes are a certificate that was issued (compared by SHA-256).");
        api.MapPost("/certificates/{number}/revocation", RevokeAsync).WithTags("Certificates")
            .Accepts<RevocationBody>("application/json").WithSummary("Revoke a certificate, with a reason (admin).");
        api.MapGet("/schools/{urn}/certificates.zip", SchoolZipAsync).WithTags("Certificates")
            .WithSummary("Every current certificate of a school's staff, as one zip (the school or admin).");
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> DownloadAsync(
        string file, string? expires, string? sig, HttpResponse response, IWorkflowStore store, CertificateLinks links, TimeProvider clock, CancellationToken ct)
    {
        // A personal document, and one that can be revoked: never kept by a shared cache.
        response.Headers.CacheControl = "private, no-store";
        var number = file.EndsWith(".pdf", StringComparison.OrdinalIgnoreCase) ? CertificateNumber.Normalise(file[..^4]) : null;
        if (number is null)
        {
            return Problems.NotFound("certificate", "number", file);
        }

        switch (links.Check(number, expires, sig, clock.GetUtcNow()))
        {
            case LinkCheck.Tampered:
                return Problems.Forbidden("sig", "the link's signature does not match; use the link exactly as it was sent.");
            case LinkCheck.Expired:
                return Gone("expires", "the link has expired. The person's school can get a fresh link from the enrolment's status.");
        }

        var certificate = await store.GetCertificateAsync(number, withPdf: true, ct);
        return certificate switch
        {
            null => Problems.NotFound("certificate", "number", number),
            { Status: CertificateStatus.Revoked } => Gone("number", "this certificate has been revoked."),
            { Status: CertificateStatus.Superseded } => Gone("number", "this certificate has been replaced by a corrected one, sent to its holder."),
            _ => TypedResults.File(certificate.Pdf!, "application/pdf", $"certificate-{certificate.Number}.pdf"),
        };
    }

    private static ProblemHttpResult Gone(string field, string message)
    {
        var problem = Problems.Field(field, message, StatusCodes.Status410Gone);
        problem.ProblemDetails.Title = "The certificate can no longer be downloaded with this link.";
        return problem;
    }

    private static async Task<IResult> VerifyPageAsync(string number, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        var (certificate, canonical) = await FindAsync(number, store, ct);
        if (HtmlPage.PrefersJson(http.Request))
        {
            return certificate is null ? Problems.NotFound("certificate", "number", number) : TypedResults.Ok(Check(certificate));
        }

        return certificate is null
            ? TypedResults.Content(VerifyPage.NotFound(number, canonical is null), "text/html; charset=utf-8", Encoding.UTF8, StatusCodes.Status404NotFound)
            : TypedResults.Content(VerifyPage.For(Check(certificate)), "text/html; charset=utf-8", Encoding.UTF8);
    }

    private static async Task<Results<Ok<CertificateCheck>, ProblemHttpResult>> VerifyAsync(string number, IWorkflowStore store, CancellationToken ct)
    {
        var (certificate, _) = await FindAsync(number, store, ct);
        return certificate is null ? Problems.NotFound("certificate", "number", number) : TypedResults.Ok(Check(certificate));
    }

    private static async Task<Results<Ok<BytesCheck>, ProblemHttpResult>> VerifyBytesAsync(HttpRequest request, IWorkflowStore store, CancellationToken ct)
    {
        var (bytes, tooLarge) = await JsonBody.ReadLimitedAsync(request, MaxPdfBytes, ct);
        if (tooLarge is not null)
        {
            return tooLarge;
        }

        if (bytes!.Length == 0)
        {
            return Problems.Field("body", "must be the certificate's PDF file.");
        }

        var certificate = await store.FindCertificateBySha256Async(Convert.ToHexStringLower(SHA256.HashData(bytes)), ct);
        return TypedResults.Ok(new BytesCheck(certificate is not null, certificate is null ? null : Check(certificate)));
    }

    private static async Task<Results<Ok<CertificateCheck>, ProblemHttpResult>> RevokeAsync(
        string number, HttpContext http, IWorkflowStore store, EnrolmentWorkflow workflow, TimeProvider clock, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can revoke certificates.");
        }

        var (body, problem) = await JsonBody.ReadAsync<RevocationBody>(http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var reason = body!.Reason?.Trim();
        if (string.IsNullOrEmpty(reason) || reason.Length > 500)
        {
            return Problems.Field("reason", "is required, at most 500 characters.");
        }

        var (certificate, _) = await FindAsync(number, store, ct);
        if (certificate is null)
        {
            return Problems.NotFound("certificate", "number", number);
        }

        if (certificate.Status == CertificateStatus.Superseded)
        {
            return Problems.Conflict("number", "this certificate was already replaced by a corrected one; revoke the current one.");
        }

        ApplyOutcome outcome;
        await using (var tx = await store.BeginAsync(ct))
        {
            // Checked again inside the transaction: a corrected certificate may have replaced this one meanwhile.
            if (!await tx.RevokeCertificateAsync(certificate.Number, reason, clock.GetUtcNow()))
            {
                return certificate.Status == CertificateStatus.Revoked
                    ? TypedResults.Ok(Check(certificate))
                    : Problems.Conflict("number", "this certificate is no longer the current one; revoke the current one.");
            }

            outcome = await workflow.ApplyInAsync(tx, certificate.EnrolmentId, new CertificateRevoked(certificate.Number, reason), ct);
            if (outcome.Rejection is { } rejection)
            {
                return Enrolments.EnrolmentAccess.ToProblem(rejection);
            }

            await tx.CommitAsync();
        }

        workflow.NotifyIfEffects(outcome);
        return TypedResults.Ok(Check((await store.GetCertificateAsync(certificate.Number, withPdf: false, ct))!));
    }

    private static async Task<IResult> SchoolZipAsync(string urn, HttpContext http, IWorkflowStore store, CancellationToken ct)
    {
        if (!Scopes.SchoolUrnPattern().IsMatch(urn))
        {
            return Problems.Field("urn", Scopes.SchoolUrnRule);
        }

        if (!http.Caller().ActsFor(urn))
        {
            return Problems.Forbidden("urn", $"this API key may not download certificates for school {urn}.");
        }

        // Written to a temporary file one certificate at a time (the zip writer needs synchronous
        // writes, which the response does not allow), then streamed out. The file is unlinked as soon
        // as it is open, so nothing is left behind even if the process dies.
        var path = Path.Combine(Path.GetTempPath(), $"certificates-{Guid.NewGuid():N}.zip");
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete, 81920,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        if (!OperatingSystem.IsWindows())
        {
            File.Delete(path);
        }

        try
        {
            using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
            {
                await foreach (var certificate in store.CurrentCertificatesForSchoolAsync(urn, ct))
                {
                    var details = JsonSerializer.Deserialize<CertificateDetails>(certificate.Details, JsonBody.Options)!;
                    var entry = zip.CreateEntry($"{FileSafe(details.FamilyName)}-{FileSafe(details.GivenName)}-{certificate.Number}.pdf", CompressionLevel.NoCompression);
                    entry.LastWriteTime = certificate.IssuedAt;
                    await using var stream = await entry.OpenAsync(ct);
                    await stream.WriteAsync(certificate.Pdf, ct);
                }
            }

            file.Position = 0;
            http.Response.Headers.CacheControl = "private, no-store";
            return TypedResults.Stream(file, "application/zip", $"certificates-{urn}.zip");
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    private static async Task<(StoredCertificate? Certificate, string? Canonical)> FindAsync(string number, IWorkflowStore store, CancellationToken ct)
    {
        var canonical = CertificateNumber.Normalise(number);
        return canonical is null ? (null, null) : (await store.GetCertificateAsync(canonical, withPdf: false, ct), canonical);
    }

    private static CertificateCheck Check(StoredCertificate c)
    {
        var d = JsonSerializer.Deserialize<CertificateDetails>(c.Details, JsonBody.Options)!;
        return new CertificateCheck(c.Number, c.Status, d.Name, d.ProgrammeTitle, d.CompletedOn, d.Issuer, c.RevokedAt);
    }

    /// <summary>
    /// A name as it is spelt, for a file name inside the zip (stored as UTF-8): letters and digits
    /// kept, spaces as hyphens, anything that could be a path or a control character dropped.
    /// </summary>
    public static string FileSafe(string text)
    {
        var safe = new string(text.Normalize().Select(c => char.IsWhiteSpace(c) ? '-' : c).Where(c => char.IsLetterOrDigit(c) || c == '-').ToArray());
        return safe.Trim('-').Length == 0 ? "x" : safe.Trim('-');
    }
}
