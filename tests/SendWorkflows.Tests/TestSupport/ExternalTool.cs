using System.Diagnostics;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// Real tools the tests check output with (pdftotext, pdftoppm, zbarimg). Outside CI a missing tool
/// skips the test with the package to install; in CI (<c>CI=true</c>) it fails it, since .ci/run installs them.
/// </summary>
public static class ExternalTool
{
    public static void Require(string tool, string package)
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)));
        if (found)
        {
            return;
        }

        var message = $"{tool} is not installed (Debian package {package}).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + " CI must install it.");
        }

        Assert.Skip(message);
    }

    public static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // A guard against a hung tool, not a measure of speed: publishing the Functions package on a
        // machine busy with the rest of the suite can take several minutes.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(guard.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} failed: {await errors}");
        return await output;
    }

    /// <summary>The text of a PDF, as a reader or screen reader extracts it.</summary>
    public static async Task<string> PdfTextAsync(byte[] pdf)
    {
        Require("pdftotext", "poppler-utils");
        var file = Path.Combine(Directory.CreateTempSubdirectory("sendworkflows-pdf-").FullName, "c.pdf");
        await File.WriteAllBytesAsync(file, pdf);
        return await RunAsync("pdftotext", file, "-");
    }

    /// <summary>What the QR code on the PDF's page says, rasterised at 150 dpi and decoded.</summary>
    public static async Task<string> PdfQrCodeAsync(byte[] pdf)
    {
        Require("pdftoppm", "poppler-utils");
        Require("zbarimg", "zbar-tools");
        var dir = Directory.CreateTempSubdirectory("sendworkflows-qr-").FullName;
        await File.WriteAllBytesAsync(Path.Combine(dir, "c.pdf"), pdf);
        await RunAsync("pdftoppm", "-r", "150", "-png", Path.Combine(dir, "c.pdf"), Path.Combine(dir, "page"));
        return (await RunAsync("zbarimg", "-q", "--raw", Directory.GetFiles(dir, "page*.png").Single())).Trim();
    }

    public static async Task<string> PdfInfoAsync(byte[] pdf)
    {
        Require("pdfinfo", "poppler-utils");
        var file = Path.Combine(Directory.CreateTempSubdirectory("sendworkflows-pdf-").FullName, "c.pdf");
        await File.WriteAllBytesAsync(file, pdf);
        return await RunAsync("pdfinfo", file);
    }
}
