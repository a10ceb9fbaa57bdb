using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>
/// A loopback stand-in for SendGrid's v3 Mail Send endpoint: it reads each request whole, counts its
/// personalizations (one per recipient) and answers 202 as SendGrid does. It can keep the bodies it
/// was sent, so a reference can send the very same bytes again without the service in between.
/// </summary>
public sealed class SendGridStub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _personalizations;
    private long _requests;

    private SendGridStub(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public long Personalizations => Interlocked.Read(ref _personalizations);

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Bodies received while <see cref="KeepBodies"/> was on.</summary>
    public ConcurrentQueue<byte[]> Bodies { get; } = new();

    public bool KeepBodies { get; set; }

    public static async Task<SendGridStub> StartAsync()
    {
        var port = Workspace.FreePort();
        var url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url.ToString());
        var app = builder.Build();
        var stub = new SendGridStub(app, url);
        app.MapPost("/v3/mail/send", async (HttpRequest request) =>
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            var body = buffer.ToArray();
            Interlocked.Add(ref stub._personalizations, CountPersonalizations(body));
            Interlocked.Increment(ref stub._requests);
            if (stub.KeepBodies)
            {
                stub.Bodies.Enqueue(body);
            }

            return Results.StatusCode(StatusCodes.Status202Accepted);
        });
        await app.StartAsync();
        return stub;
    }

    private static int CountPersonalizations(byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.TryGetProperty("personalizations", out var list) ? list.GetArrayLength() : 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
