namespace SendWorkflows.Certificates;

/// <summary>What a certificate says, kept with it as issued. The PDF and the verification page are made from this.</summary>
public sealed record CertificateDetails(
    string Number,
    int Version,
    string GivenName,
    string FamilyName,
    string ProgrammeId,
    string ProgrammeTitle,
    string CertificateTitle,
    string Issuer,
    string? Signatory,
    IReadOnlyList<CertificateDetails.Module> Modules,
    CertificateDetails.Session? LiveSession,
    DateTimeOffset CompletedAt,
    string CompletedOn,
    string VerifyUrl)
{
    public sealed record Module(string Title, int CpdMinutes);

    public sealed record Session(string Title, string Date, string Location);

    public string Name => $"{GivenName} {FamilyName}".Trim();

    public int TotalCpdMinutes => Modules.Sum(m => m.CpdMinutes);
}
