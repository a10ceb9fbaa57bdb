using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.Certificates;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Regressions;

public sealed class CertificateReviewFindingsTests
{
    [Fact]
    public async Task a_correction_queued_before_a_revocation_issues_nothing_once_revoked()
    {
        // A revocation must win over a correction that is still waiting in the outbox. (The issuer also
        // re-checks inside its write transaction, for a revocation that lands while it renders; that
        // race is closed by the serialized write, not reproduced here.)
        await using var app = new TestApp();
        var (id, certificate) = await CertificateEndpointTests.CompletedAsync(app, given: "Zoe", family: "Bronte");
        await CertificateEndpointTests.CorrectNameAsync(app, "Zoë", "Brontë");
        var number = certificate.GetProperty("number").GetString()!;
        (await app.Admin().PostAsJsonAsync($"/api/v1/certificates/{number}/revocation", new { reason = "issued in error" })).EnsureSuccessStatusCode();

        await app.TickAsync();

        Assert.Equal(1, app.Count("certificates"));
        Assert.Equal(0, app.Count("certificates", "status = 'valid'"));
        Assert.Single(app.OutboxFilesFor(id, "certificate"));
    }

    [Fact]
    public async Task revoking_a_certificate_that_was_replaced_is_409_and_the_current_one_stays_valid()
    {
        await using var app = new TestApp();
        var (id, first) = await CertificateEndpointTests.CompletedAsync(app, given: "Zoe", family: "Bronte");
        await CertificateEndpointTests.CorrectNameAsync(app, "Zoë", "Brontë");
        await app.TickAsync();

        var revoke = await app.Admin().PostAsJsonAsync($"/api/v1/certificates/{first.GetProperty("number").GetString()}/revocation", new { reason = "x" });
        await Problem.AssertAsync(revoke, HttpStatusCode.Conflict, "number");
        Assert.Equal(1, app.Count("certificates", "status = 'valid' AND version = 2"));
        Assert.Equal("valid", (await app.GetEnrolmentAsync(id)).GetProperty("certificate").GetProperty("status").GetString());
    }

    [Fact]
    public async Task a_downloaded_certificate_is_never_kept_by_a_shared_cache()
    {
        await using var app = new TestApp();
        var (_, certificate) = await CertificateEndpointTests.CompletedAsync(app);
        var response = await app.Anonymous().GetAsync(new Uri(certificate.GetProperty("downloadUrl").GetString()!).PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.CacheControl?.NoStore);
        Assert.True(response.Headers.CacheControl?.Private);
    }

    [Fact]
    public async Task a_generated_signing_key_is_readable_only_by_its_owner()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix file modes only.");
            return;
        }

        await using var app = new TestApp();
        await app.Admin().GetAsync("/healthz");
        var mode = File.GetUnixFileMode(Path.Combine(app.Root, "signing.key"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
    }
}
