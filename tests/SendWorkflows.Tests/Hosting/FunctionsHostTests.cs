using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SendWorkflows.Email;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>The custom handler contract, with the request and response shapes the Functions host documents.</summary>
public sealed class FunctionsHostTests
{
    /// <summary>What the host posts to /tick for a timer trigger named "timer".</summary>
    private const string TimerInvocation = """
        {
          "Data": {
            "timer": { "Schedule": { "AdjustForDST": true }, "ScheduleStatus": null, "IsPastDue": false }
          },
          "Metadata": {
            "sys": { "MethodName": "tick", "UtcNow": "2026-11-23T09:00:00.0000000Z", "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9" }
          }
        }
        """;

    [Fact]
    public async Task the_timer_invocation_is_answered_in_the_custom_handler_response_shape()
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-1");
        var response = await app.Anonymous().PostAsync("/tick", new StringContent(TimerInvocation, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Object, body.GetProperty("Outputs").ValueKind);
        Assert.Contains("1 effects sent", body.GetProperty("Logs")[0].GetString(), StringComparison.Ordinal);
        Assert.True(body.GetProperty("ReturnValue").GetProperty("ran").GetBoolean());
        Assert.Equal(1, body.GetProperty("ReturnValue").GetProperty("effectsSent").GetInt32());
        Assert.Single(app.OutboxFiles("welcome"));
    }

    [Fact]
    public async Task a_tick_from_anyone_else_gets_the_plain_result_and_repeating_it_is_harmless()
    {
        await using var app = new TestApp();
        await app.EnrolAsync("T-1");
        var first = await app.TickAsync();
        Assert.Equal(1, first.GetProperty("effectsSent").GetInt32());
        for (var i = 0; i < 5; i++)
        {
            var again = await app.Anonymous().PostAsync("/tick", new StringContent("not json", System.Text.Encoding.UTF8, "text/plain"));
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.Equal(0, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("effectsSent").GetInt32());
        }

        Assert.Single(app.OutboxFiles("welcome"));
    }

    /// <summary>A relay that holds every send until the test lets it go.</summary>
    private sealed class HeldRelay : IEmailTransport
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task SendAsync(EmailMessage message, CancellationToken ct)
        {
            Entered.TrySetResult();
            await Release.Task.WaitAsync(ct);
        }
    }

    [Fact]
    public async Task a_second_tick_while_one_is_running_returns_at_once_without_doing_anything()
    {
        var relay = new HeldRelay();
        await using var app = new TestApp(services: s => s.AddSingleton<IEmailTransport>(relay));
        await app.EnrolAsync("T-1");

        var first = app.Anonymous().PostAsync("/tick", null);
        await relay.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = await app.TickAsync();
        Assert.False(second.GetProperty("ran").GetBoolean());

        relay.Release.SetResult();
        var done = await (await first).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(done.GetProperty("ran").GetBoolean());
        Assert.Equal(1, done.GetProperty("effectsSent").GetInt32());
    }

    [Fact]
    public void host_json_runs_the_handler_and_proxies_every_path_unchanged()
    {
        using var host = JsonDocument.Parse(File.ReadAllText(Repository.File("host.json")));
        var root = host.RootElement;
        Assert.Equal("2.0", root.GetProperty("version").GetString());
        var handler = root.GetProperty("customHandler");
        Assert.Equal("SendWorkflows", handler.GetProperty("description").GetProperty("defaultExecutablePath").GetString());
        Assert.Equal(typeof(Program).Assembly.GetName().Name, handler.GetProperty("description").GetProperty("defaultExecutablePath").GetString());
        Assert.True(handler.GetProperty("enableProxyingHttpRequest").GetBoolean());
        Assert.Equal("", root.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        Assert.Equal("Microsoft.Azure.Functions.ExtensionBundle", root.GetProperty("extensionBundle").GetProperty("id").GetString());

        using var http = JsonDocument.Parse(File.ReadAllText(Repository.File("src", "SendWorkflows", "Functions", "http", "function.json")));
        var trigger = http.RootElement.GetProperty("bindings")[0];
        Assert.Equal("httpTrigger", trigger.GetProperty("type").GetString());
        Assert.Equal("anonymous", trigger.GetProperty("authLevel").GetString());
        Assert.Equal("{*path}", trigger.GetProperty("route").GetString());
        Assert.Equal(["delete", "get", "head", "options", "patch", "post", "put"],
            trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!).Order(StringComparer.Ordinal));

        using var tick = JsonDocument.Parse(File.ReadAllText(Repository.File("src", "SendWorkflows", "Functions", "tick", "function.json")));
        var timer = tick.RootElement.GetProperty("bindings")[0];
        Assert.Equal("timerTrigger", timer.GetProperty("type").GetString());
        Assert.Equal("timer", timer.GetProperty("name").GetString());
        Assert.Equal("%TICK_SCHEDULE%", timer.GetProperty("schedule").GetString());
    }
}
