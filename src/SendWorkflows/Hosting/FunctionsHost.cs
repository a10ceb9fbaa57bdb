using System.Text.Json;
using System.Text.Json.Serialization;

namespace SendWorkflows.Hosting;

/// <summary>
/// Running as an Azure Functions custom handler: the host starts this executable, tells it which
/// port to listen on, proxies every HTTP request to it unchanged, and invokes the timer function
/// <c>tick</c> by posting its trigger payload to <c>/tick</c>.
/// </summary>
public static class FunctionsHost
{
    public const string PortVariable = "FUNCTIONS_CUSTOMHANDLER_PORT";

    /// <summary>Listens on the host's port, on loopback only, when the Functions host started us.</summary>
    public static void ListenForFunctionsHost(this WebApplicationBuilder builder)
    {
        var port = builder.Configuration[PortVariable];
        if (string.IsNullOrEmpty(port))
        {
            return;
        }

        if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
        {
            throw new InvalidOperationException($"{PortVariable} '{port}' is not a port number.");
        }

        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenLocalhost(number));
    }

    /// <summary>The custom handler invocation payload the Functions host posts for a timer.</summary>
    public sealed record InvocationRequest(JsonElement? Data, JsonElement? Metadata);

    /// <summary>The custom handler response: outputs by binding name, invocation log lines, and a return value.</summary>
    public sealed record InvocationResponse(
        [property: JsonPropertyName("Outputs")] IReadOnlyDictionary<string, object?> Outputs,
        [property: JsonPropertyName("Logs")] IReadOnlyList<string> Logs,
        [property: JsonPropertyName("ReturnValue")] TickResult ReturnValue);

    /// <summary>
    /// <c>POST /tick</c>. From the Functions host (a body with <c>Data</c>) it answers in the custom
    /// handler's shape; from anyone else (the public route reaches it too) with the plain result.
    /// Either way it is one single-flight pass within the tick budget, cheap when nothing is due.
    /// </summary>
    public static async Task<IResult> TickAsync(HttpRequest request, WorkflowPump pump, CancellationToken ct)
    {
        var fromHost = await IsHostInvocationAsync(request, ct);
        var result = await pump.RunOnceAsync(ct);
        if (!fromHost)
        {
            return TypedResults.Ok(result);
        }

        var log = result.Ran
            ? $"tick: {result.TimersFired} timers fired, {result.EffectsSent} effects sent, {result.EffectsFailed} failed, {result.EffectsDead} dead"
            : "tick: another pass was already running; nothing to do";
        return TypedResults.Json(new InvocationResponse(new Dictionary<string, object?>(), [log], result));
    }

    private static async Task<bool> IsHostInvocationAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength is 0 or > 64 * 1024 || !Http.JsonBody.IsJson(request))
        {
            return false;
        }

        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
            return body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("Data", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
