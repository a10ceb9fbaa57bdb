using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using SendWorkflows.Benchmarks.Infrastructure;
using SendWorkflows.Benchmarks.References;
using SendWorkflows.Certificates;

namespace SendWorkflows.Benchmarks.Scenarios;

/// <summary>
/// <c>certificates</c>: the service's renderer on one thread, as PDFs per CPU-second (per core), beside
/// headless Chromium printing the same certificate from HTML. <c>certificate_download_p99</c>: people
/// complete a one-module programme, their certificates are issued through the outbox as usual, and
/// their signed links are fetched at 16 connections; the reference is <c>/healthz</c> at the same load.
/// </summary>
public static class CertificateScenarios
{
    public static async Task<List<BenchResult>> RunAsync(Context context)
    {
        var scale = context.Scale;
        var certificate = Example(0);
        var renderer = new CertificateRenderer(new ConfigurationBuilder().Build());
        // Warm-up, as long as the measurement: the first renders load fonts, and the runtime keeps
        // recompiling hot methods for a few thousand more. A service renders for days; that start is not its cost.
        var warming = Stopwatch.StartNew();
        for (var i = 0; warming.Elapsed < scale.CertificateDuration; i++)
        {
            renderer.Render(Example(i));
        }

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var rendered = 0;
        long bytes = 0;
        while (clock.Elapsed < scale.CertificateDuration)
        {
            bytes = renderer.Render(Example(rendered++)).Length;
        }

        var wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        var perCore = rendered / cpu;
        var fonts = new CertificateFonts();
        var face = fonts.ResolveTypeface(CertificateFonts.Family, false, false)!.FaceName;
        var (chromium, chromiumBytes) = await ChromiumPdf.RenderAsync(context.Workspace.Folder("chromium"), certificate, fonts.GetFont(face)!, scale.ChromiumRenders);
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"renderer: {rendered:#,0} PDFs ({bytes / 1024.0:0} KB each) in {wall:0.0} s wall, {cpu:0.00} CPU-s; Chromium: {chromium:0.00} PDFs per CPU-second ({chromiumBytes / 1024.0:0} KB)"));

        var download = await DownloadAsync(context);
        return
        [
            Metrics.Certificates.Result(perCore, chromium),
            Metrics.CertificateDownloadP99.Result(download.Certificate, download.Health),
        ];
    }

    private static CertificateDetails Example(int i) => new(
        Number: "SEND-" + (100000 + i).ToString(CultureInfo.InvariantCulture), Version: 1,
        GivenName: "Priya", FamilyName: "Ramaswamy-Okafor", ProgrammeId: "send-inclusion-core",
        ProgrammeTitle: "SEND and inclusion: core training", CertificateTitle: "Certificate of completion",
        Issuer: "SEND and Inclusion Training Programme", Signatory: "Programme Director",
        Modules:
        [
            new("Inclusion and the SEND Code of Practice", 60), new("Early identification of need", 45),
            new("Adaptive teaching for a wide range of needs", 60), new("Speech, language and communication needs", 45),
            new("Visual impairment", 30), new("Assistive technology and access", 30), new("Working effectively with parents and carers", 45),
        ],
        LiveSession: new("Inclusive classrooms in practice", "12 November 2026", "Leeds"),
        CompletedAt: new DateTimeOffset(2026, 11, 20, 15, 0, 0, TimeSpan.Zero), CompletedOn: "20 November 2026",
        VerifyUrl: "https://sendworkflows.example.org/verify/SEND-" + (100000 + i).ToString(CultureInfo.InvariantCulture));

    private static async Task<(double Certificate, double Health)> DownloadAsync(Context context)
    {
        var scale = context.Scale;
        await using var app = await AppProcess.StartServiceAsync(context.Workspace.Folder("downloads"), new Dictionary<string, string>());
        await Api.PublishAsync(app.Client, new JsonObject
        {
            ["id"] = "bench-certificate",
            ["title"] = "SEND and inclusion: a short course",
            ["issuer"] = "SEND and Inclusion Training Programme",
            ["modules"] = new JsonArray(new JsonObject { ["id"] = "essentials", ["title"] = "SEND essentials", ["cpdMinutes"] = 60, ["required"] = true }),
            ["liveSessionsRequired"] = 0,
            ["completionWindow"] = "P182D",
            ["certificate"] = new JsonObject { ["title"] = "Certificate of completion", ["signatory"] = "Programme Director", ["linkValidity"] = "P30D" },
        });
        var people = await Api.EnrolManyAsync(app.Client, "bench-certificate", 0, scale.DownloadPeople, 1_000, prefix: "C");
        foreach (var person in people)
        {
            using var answer = await app.Client.SendAsync(Api.Completion(person, "essentials", TimeProvider.System.GetUtcNow().AddMinutes(-1)));
            answer.EnsureSuccessStatusCode();
        }

        var links = new List<Uri>();
        var waited = Stopwatch.StartNew();
        foreach (var person in people)
        {
            while (true)
            {
                var status = JsonNode.Parse(await app.Client.GetStringAsync(new Uri($"/api/v1/enrolments/{person}", UriKind.Relative)));
                if (status?["certificate"]?["downloadUrl"]?.GetValue<string>() is { } link)
                {
                    links.Add(new Uri(link));
                    break;
                }

                if (waited.Elapsed > TimeSpan.FromMinutes(2))
                {
                    throw new TimeoutException($"no certificate was issued within two minutes: {status}");
                }

                await Task.Delay(50);
            }
        }

        using var client = app.NewClient(16);
        var certificates = await Load.RunAsync(client, 16, scale.DownloadDuration, (worker, i) =>
            new HttpRequestMessage(HttpMethod.Get, links[(int)((worker + (i * 16)) % links.Count)]));
        var health = await Load.RunAsync(client, 16, scale.DownloadDuration, (_, _) => new HttpRequestMessage(HttpMethod.Get, new Uri("/healthz", UriKind.Relative)));
        context.Say(string.Create(CultureInfo.InvariantCulture,
            $"downloads: {certificates.PerSecond:#,0}/s, p50 {certificates.P50Ms:0.0} ms, p99 {certificates.P99Ms:0.0} ms; /healthz {health.PerSecond:#,0}/s, p99 {health.P99Ms:0.0} ms"));
        if (certificates.Failures > 0)
        {
            throw new InvalidOperationException($"{certificates.Failures} downloads failed: {certificates.FirstFailure}");
        }

        return (certificates.P99Ms, health.P99Ms);
    }
}
