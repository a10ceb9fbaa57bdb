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

    /// <summary>
    /// Waits until the server lists at least <paramref name="count"/> messages and returns them all.
    /// maildev acknowledges the SMTP transaction before its API lists the message, so a read straight
    /// after sending can come too early; the wait is bounded and is not a timing assertion.
    /// </summary>
    public async Task<IReadOnlyList<JsonElement>> WaitForEmailsAsync(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var emails = await EmailsAsync();
            if (emails.Count >= count || DateTime.UtcNow > deadline)
            {
                return emails;
            }

            await Task.Delay(50);
        }
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
