using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// A real SMTP server for the tests: maildev (npm package maildev@2), on free loopback ports, with
/// its REST API to read what arrived. .ci/run installs it; elsewhere the tests that need it skip.
/// </summary>
public sealed class Maildev : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _api;

    private Maildev(Process process, int smtpPort, int webPort)
    {
        _process = process;
        SmtpPort = smtpPort;
        _api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{webPort}") };
    }

    public int SmtpPort { get; }

    public static async Task<Maildev> StartAsync(string? user = null, string? password = null)
    {
        ExternalTool.Require("maildev", "npm package maildev@2");
        var smtp = Repository.FreePort();
        var web = Repository.FreePort();
        var arguments = new List<string> { "--smtp", $"{smtp}", "--web", $"{web}", "--ip", "127.0.0.1", "--silent" };
        if (user is not null)
        {
            arguments.AddRange(["--incoming-user", user, "--incoming-pass", password ?? ""]);
        }

        var process = Process.Start(new ProcessStartInfo("maildev", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var maildev = new Maildev(process, smtp, web);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                (await maildev._api.GetAsync("/email")).EnsureSuccessStatusCode();
                return maildev;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
        }

        await maildev.DisposeAsync();
        throw new InvalidOperationException("maildev did not start within 30 seconds.");
    }

    /// <summary>Every message the server received, as maildev's REST API describes them.</summary>
    public async Task<IReadOnlyList<JsonElement>> EmailsAsync() =>
        (await _api.GetFromJsonAsync<JsonElement>("/email")).EnumerateArray().ToList();

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _api.Dispose();
    }
}
