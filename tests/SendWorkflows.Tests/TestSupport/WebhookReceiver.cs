using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// A subscriber's endpoint on loopback: a real HTTP server that records every request it gets, with
/// its headers and exact body bytes, and answers each path with the statuses the test queues
/// (200 when none is queued).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private WebApplication _app = null!;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _answers = new(StringComparer.Ordinal);
    private readonly List<Received> _requests = [];


    public sealed record Received(string Path, string Method, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : "";

        public string Text => System.Text.Encoding.UTF8.GetString(Body);
    }

    public Uri BaseUrl { get; private set; } = null!;

    public string Url(string path) => new Uri(BaseUrl, path).ToString();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        (receiver._app, receiver.BaseUrl) = await Loopback.StartAsync(app => app.Run(receiver.HandleAsync));
        return receiver;
    }

    /// <summary>The next requests to <paramref name="path"/> are answered with these statuses, in order.</summary>
    public void Answer(string path, params int[] statuses)
    {
        var queue = _answers.GetOrAdd(path, _ => new ConcurrentQueue<int>());
        foreach (var status in statuses)
        {
            queue.Enqueue(status);
        }
    }

    public IReadOnlyList<Received> Requests(string? path = null)
    {
        lock (_requests)
        {
            return _requests.Where(r => path is null || r.Path == path).ToList();
        }
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        var received = new Received(http.Request.Path, http.Request.Method,
            http.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal), body.ToArray());
        lock (_requests)
        {
            _requests.Add(received);
        }

        http.Response.StatusCode = _answers.TryGetValue(received.Path, out var queue) && queue.TryDequeue(out var status) ? status : 200;
        if (http.Response.StatusCode is >= 300 and < 400)
        {
            http.Response.Headers.Location = "/moved";
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
