using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>
/// The deployable package, built by infra/publish-functionapp.sh and started the way the Functions
/// host starts it: from the unpacked zip, told its port in FUNCTIONS_CUSTOMHANDLER_PORT.
/// </summary>
public sealed class FunctionsPackageTests
{
    [Fact]
    public async Task the_packaged_handler_started_from_the_unpacked_zip_answers_on_the_hosts_port()
    {
        ExternalTool.Require("zip", "zip");
        var artifacts = Directory.CreateTempSubdirectory("sendworkflows-package-").FullName;
        await ExternalTool.RunAsync("bash", Repository.File("infra", "publish-functionapp.sh"), artifacts);
        var zipPath = Path.Combine(artifacts, "functionapp.zip");

        using (var zip = ZipFile.OpenRead(zipPath))
        {
            var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            Assert.Contains("host.json", names);
            Assert.Contains("http/function.json", names);
            Assert.Contains("tick/function.json", names);
            var handler = zip.GetEntry("SendWorkflows")!;
            var mode = (handler.ExternalAttributes >> 16) & 0x1FF;
            Assert.True((mode & 0x49) == 0x49, $"the handler must be executable in the zip (mode {Convert.ToString(mode, 8)})");
            Assert.DoesNotContain(names, n => n.StartsWith("Functions/", StringComparison.Ordinal) || n.StartsWith("data/", StringComparison.Ordinal));
        }

        var unpacked = Path.Combine(artifacts, "unpacked");
        await ExternalTool.RunAsync("unzip", "-q", zipPath, "-d", unpacked);
        var port = Repository.FreePort();
        var work = Directory.CreateTempSubdirectory("sendworkflows-package-run-").FullName;
        var start = new ProcessStartInfo(Path.Combine(unpacked, "SendWorkflows"))
        {
            WorkingDirectory = work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["ASPNETCORE_ENVIRONMENT"] = "Development",
                ["Auth__BootstrapAdminKey"] = "package-test-admin-key-0123456789",
                ["Workflow__RunInBackground"] = "false",
            },
        };
        using var process = Process.Start(start)!;
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            HttpResponseMessage? health = null;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (health is null && DateTime.UtcNow < deadline && !process.HasExited)
            {
                try
                {
                    health = await client.GetAsync("/healthz");
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }

            Assert.True(health is not null, $"no answer on port {port}: {(process.HasExited ? await process.StandardError.ReadToEndAsync() : "still running")}");
            Assert.Equal(HttpStatusCode.OK, health!.StatusCode);

            var tick = await client.PostAsync("/tick", new StringContent("""{"Data":{"timer":{}},"Metadata":{}}""", System.Text.Encoding.UTF8, "application/json"));
            var body = await tick.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(body.GetProperty("ReturnValue").GetProperty("ran").GetBoolean());

            // The package's code is compiled ahead of time, libraries and framework together: one
            // person through to a certificate shows the PDF library and its fonts work in it too.
            client.DefaultRequestHeaders.Authorization = new("Bearer", "package-test-admin-key-0123456789");
            (await client.PutAsJsonAsync("/api/v1/programmes/small", TestApp.SmallProgramme(liveSessions: 0))).EnsureSuccessStatusCode();
            var enrolled = await client.PostAsJsonAsync("/api/v1/enrolments", TestApp.Person("PKG-1", programme: "small"));
            var id = (await enrolled.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
            foreach (var module in new[] { "m1", "m2" })
            {
                (await client.PostAsJsonAsync($"/api/v1/enrolments/{id}/modules/{module}/completion", new { })).EnsureSuccessStatusCode();
            }

            JsonElement certificate = default;
            for (var i = 0; i < 20 && certificate.ValueKind != JsonValueKind.Object; i++)
            {
                (await client.PostAsync("/tick", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
                var status = await client.GetFromJsonAsync<JsonElement>($"/api/v1/enrolments/{id}");
                status.TryGetProperty("certificate", out certificate);
            }

            Assert.Equal(JsonValueKind.Object, certificate.ValueKind);
            var pdf = await client.GetByteArrayAsync(new Uri(certificate.GetProperty("downloadUrl").GetString()!).PathAndQuery);
            Assert.Contains("Zoë Brontë-Ødegaard", await ExternalTool.PdfTextAsync(pdf), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
