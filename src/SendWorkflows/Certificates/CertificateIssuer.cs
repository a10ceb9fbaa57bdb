using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using SendWorkflows.Http;
using SendWorkflows.Programmes;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Certificates;

/// <summary>
/// Carries out an <see cref="IssueCertificate"/> effect from the outbox: numbers the certificate,
/// renders it, and in one transaction stores it (superseding earlier versions) and queues the email
/// with its download link and the <c>certificate.issued</c> webhooks. Safe to repeat: a version already issued is not issued again.
/// </summary>
/// <remarks>
/// The PDF bytes are stored rather than rendered again on each download. A presented file is checked
/// by its SHA-256 against what was issued, and that must hold even after the layout, the font or the
/// PDF library changes; downloads also cost a read instead of a render.
/// </remarks>
public sealed class CertificateIssuer(
    IWorkflowStore store,
    ProgrammeCatalogue programmes,
    CertificateRenderer renderer,
    CertificateLinks links,
    TimeProvider clock,
    WorkSignal signal)
{
    public async Task IssueAsync(IssueCertificate effect, CancellationToken ct)
    {
        var enrolment = await store.GetEnrolmentAsync(effect.EnrolmentId, ct)
                        ?? throw new InvalidOperationException($"Enrolment {effect.EnrolmentId} does not exist.");
        var state = enrolment.State;
        if (state.CompletedAt is null || effect.Version < state.CertificateVersion || state.CertificateRevokedAt is not null)
        {
            return; // not due, already overtaken by a later version, or revoked: nothing to issue
        }

        if (await store.CurrentCertificateAsync(state.Id, ct) is { } current && current.Version >= effect.Version)
        {
            return;
        }

        var programme = (await programmes.GetVersionAsync(state.ProgrammeId, state.ProgrammeVersion, ct)).Definition;
        var details = await DetailsAsync(state, programme, effect.Version, ct);
        var pdf = renderer.Render(details);
        var now = clock.GetUtcNow();
        var certificate = new StoredCertificate(details.Number, state.Id, effect.Version, state.SchoolUrn, CertificateStatus.Valid,
            JsonSerializer.Serialize(details, JsonBody.Options), Convert.ToHexStringLower(SHA256.HashData(pdf)), pdf, now, null, null);

        await using (var tx = await store.BeginAsync(ct))
        {
            // Everything checked above is checked again where it counts: a revocation, a newer
            // version or another worker may have got in while this one was rendering.
            var latest = (await tx.GetEnrolmentAsync(state.Id))!.State;
            if (latest.CertificateRevokedAt is not null || effect.Version < latest.CertificateVersion ||
                await tx.LatestCertificateVersionAsync(state.Id) >= effect.Version)
            {
                return;
            }

            await tx.InsertCertificateAsync(certificate);
            // The email and the subscribers' certificate.issued go out with the certificate or not at all.
            await tx.EnqueueEffectsAsync(state.Id,
                [Email(state, programme, details, now), Published.CertificateIssued(latest, details.Version, details.Number, details.VerifyUrl, now)], now);
            await tx.CommitAsync();
        }

        signal.Notify();
    }

    private async Task<CertificateDetails> DetailsAsync(EnrolmentState state, ProgrammeDefinition programme, int version, CancellationToken ct)
    {
        var zone = programme.Zone;
        CertificateDetails.Session? session = null;
        var attended = state.Sessions.Where(s => s.Value.AttendedAt is not null).OrderBy(s => s.Value.AttendedAt).FirstOrDefault();
        if (attended.Key is not null && await store.GetSessionAsync(attended.Key, ct) is { } live)
        {
            session = new CertificateDetails.Session(live.Title, LongDate(live.StartsAt, zone), live.Location);
        }

        var number = CertificateNumber.New();
        return new CertificateDetails(number, version, state.Staff.GivenName, state.Staff.FamilyName, programme.Id, programme.Title,
            programme.Certificate.Title, programme.Issuer, programme.Certificate.Signatory,
            programme.RequiredModules.Concat(programme.Modules.Where(m => !m.Required && state.ModulesCompleted.ContainsKey(m.Id)))
                .Select(m => new CertificateDetails.Module(m.Title, m.CpdMinutes)).ToList(),
            session, state.CompletedAt!.Value, LongDate(state.CompletedAt.Value, zone), links.VerifyUrl(number));
    }

    private EmailEffect Email(EnrolmentState state, ProgrammeDefinition programme, CertificateDetails details, DateTimeOffset now)
    {
        var expires = now + programme.Certificate.LinkValidity;
        var model = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["givenName"] = state.Staff.GivenName,
            ["programmeTitle"] = programme.Title,
            ["issuer"] = programme.Issuer,
            ["number"] = details.Number,
            ["downloadUrl"] = links.DownloadUrl(details.Number, expires),
            ["linkExpiresOn"] = LongDate(expires, programme.Zone),
            ["verifyUrl"] = details.VerifyUrl,
            ["corrected"] = details.Version > 1 ? "true" : "",
        };
        return new EmailEffect(EmailTemplates.Certificate, $"{state.Id:N}:certificate-email:{details.Version}",
            new EmailRecipient(state.Staff.Email, $"{state.Staff.GivenName} {state.Staff.FamilyName}".Trim()), model);
    }

    public static string LongDate(DateTimeOffset at, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(at, zone).ToString("d MMMM yyyy", CultureInfo.InvariantCulture);
}
