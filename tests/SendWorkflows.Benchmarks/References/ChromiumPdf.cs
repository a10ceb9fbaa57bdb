using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using QRCoder;
using SendWorkflows.Certificates;

namespace SendWorkflows.Benchmarks.References;

/// <summary>
/// What many teams pick instead of a PDF library: the same certificate as an HTML page (the same
/// words, the same embedded font, the QR code as SVG) printed to PDF by headless Chromium, one
/// browser run per certificate. Its cost is the CPU time of the browser and all its processes.
/// </summary>
public static partial class ChromiumPdf
{
    /// <summary>The browser, or null when it is not installed (Debian package chromium).</summary>
    public static string? Find() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    /// <summary>Renders the certificate this many times; returns PDFs per CPU-second and the size of the last PDF.</summary>
    public static async Task<(double PerCpuSecond, long Bytes)> RenderAsync(string folder, CertificateDetails certificate, byte[] font, int renders)
    {
        var browser = Find() ?? throw new InvalidOperationException("headless Chromium was not found; install the Debian package chromium");
        var fontPath = Path.Combine(folder, "certificate-font.ttf");
        await File.WriteAllBytesAsync(fontPath, font);
        var page = Path.Combine(folder, "certificate.html");
        await File.WriteAllTextAsync(page, Html(certificate, new Uri(fontPath).AbsoluteUri));
        var pdf = Path.Combine(folder, "certificate.pdf");
        var before = ChildrenCpu();
        for (var i = 0; i < renders; i++)
        {
            File.Delete(pdf);
            var start = new ProcessStartInfo(browser,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
                $"--user-data-dir={Path.Combine(folder, "profile")}", $"--print-to-pdf={pdf}", new Uri(page).AbsoluteUri,
            ])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start) ?? throw new InvalidOperationException("Chromium did not start");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await process.WaitForExitAsync(guard.Token);
            if (process.ExitCode != 0 || !File.Exists(pdf))
            {
                throw new InvalidOperationException($"Chromium exited with {process.ExitCode} and no PDF: {await output}{await errors}");
            }
        }

        var cpu = ChildrenCpu() - before;
        return (renders / cpu.TotalSeconds, new FileInfo(pdf).Length);
    }

    private static string Html(CertificateDetails d, string fontUrl)
    {
        var e = (string s) => WebUtility.HtmlEncode(s);
        var qr = new SvgQRCode(new QRCodeGenerator().CreateQrCode(d.VerifyUrl, QRCodeGenerator.ECCLevel.M)).GetGraphic(4);
        var modules = new StringBuilder();
        foreach (var m in d.Modules)
        {
            modules.Append("<li>").Append(e(m.Title)).Append(" (").Append(m.CpdMinutes).Append(" minutes)</li>");
        }

        return $$"""
            <!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>{{e(d.CertificateTitle)}}</title>
            <style>
              @font-face { font-family: Certificate; src: url("{{fontUrl}}"); }
              @page { size: A4 landscape; margin: 0; }
              body { font-family: Certificate, sans-serif; margin: 36pt; color: #0b0c0c; }
              h1 { font-size: 30pt; margin: 12pt 0; } .name { font-size: 28pt; font-weight: bold; }
              .programme { font-size: 18pt; font-weight: bold; color: #1d70b8; } .qr { position: absolute; right: 36pt; bottom: 36pt; width: 110pt; }
              li { font-size: 12pt; } .small { font-size: 10pt; }
            </style></head><body>
            <p class="small">{{e(d.Issuer)}}</p><h1>{{e(d.CertificateTitle)}}</h1>
            <p>This is to certify that</p><p class="name">{{e(d.Name)}}</p><p>completed</p><p class="programme">{{e(d.ProgrammeTitle)}}</p>
            <p>on {{e(d.CompletedOn)}}, {{d.TotalCpdMinutes}} minutes of CPD:</p><ul>{{modules}}</ul>
            <p>{{e(d.Signatory ?? "")}}</p><p class="small">Certificate {{e(d.Number)}}. Check it at {{e(d.VerifyUrl)}}</p>
            <div class="qr">{{qr}}</div></body></html>
            """;
    }

    /// <summary>CPU time (user and system) of every child process that has ended and been waited for, and theirs in turn.</summary>
    private static TimeSpan ChildrenCpu()
    {
        if (GetResourceUsage(RusageChildren, out var usage) != 0)
        {
            throw new InvalidOperationException("getrusage failed");
        }

        return TimeSpan.FromMicroseconds((usage.UserSeconds + usage.SystemSeconds) * 1_000_000.0 + usage.UserMicroseconds + usage.SystemMicroseconds);
    }

    private const int RusageChildren = -1;

    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
        public long MaxResident, SharedMemory, UnsharedData, UnsharedStack, MinorFaults, MajorFaults, Swaps,
            BlockInputs, BlockOutputs, MessagesSent, MessagesReceived, Signals, VoluntarySwitches, InvoluntarySwitches;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetResourceUsage(int who, out ResourceUsage usage);
}
