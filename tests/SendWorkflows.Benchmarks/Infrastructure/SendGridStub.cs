using System.Buffers;
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
            // A pooled buffer, so the stand-in adds as little as it can to the garbage of the process it shares.
            var buffer = ArrayPool<byte>.Shared.Rent(2 << 20);
            try
            {
                var length = 0;
                for (int read; (read = await request.Body.ReadAsync(buffer.AsMemory(length))) > 0;)
                {
                    length += read;
                    if (length == buffer.Length)
                    {
                        return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
                    }
                }

                var body = buffer.AsSpan(0, length);
                Interlocked.Add(ref stub._personalizations, CountPersonalizations(body));
                Interlocked.Increment(ref stub._requests);
                if (stub.KeepBodies)
                {
                    stub.Bodies.Enqueue(body.ToArray());
                }

                return Results.StatusCode(StatusCodes.Status202Accepted);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });
        await app.StartAsync();
        return stub;
    }

    /// <summary>The length of the top-level <c>personalizations</c> array, read without building a document.</summary>
    private static int CountPersonalizations(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return 0;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isList = reader.ValueTextEquals("personalizations"u8);
            reader.Read();
            if (isList && reader.TokenType == JsonTokenType.StartArray)
            {
                var count = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    count++;
                    reader.Skip();
                }

                return count;
            }

            reader.Skip();
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
