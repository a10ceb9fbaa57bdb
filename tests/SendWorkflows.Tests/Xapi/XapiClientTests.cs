using System.Diagnostics;
using System.Text.Json;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Xapi;

/// <summary>
/// The xAPI endpoint driven by a real xAPI client, the npm package @xapi/xapi, over a real socket, as a
/// learning platform would call it. .ci/run installs the package into .tools; elsewhere the test skips
/// with the command to install it, and in CI (CI=true) a missing package fails it.
/// </summary>
public sealed class XapiClientTests
{
    private static readonly string Modules = Repository.File(".tools", "node_modules");

    [Fact]
    public async Task a_learning_platform_using_the_xapi_npm_client_records_progress()
    {
        ExternalTool.Require("node", "nodejs");
        RequirePackage();
        await using var app = new TestApp();
        app.UseKestrel(Repository.FreePort());
        app.StartServer();
        var enrolmentId = await app.EnrolAsync("T-9");
        await app.PutSessionAsync("leeds-1", TestApp.Programme, TimeSpan.FromHours(-2));
        var (_, key) = await app.CreateApiClientAsync("lms");
        var endpoint = new Uri(app.ClientOptions.BaseAddress, "/xapi/").ToString();

        var output = await RunAsync(endpoint, key, "https://send.example.org", "100004", "T-9", enrolmentId, "leeds-1");

        var result = JsonDocument.Parse(output).RootElement;
        var single = result.GetProperty("single").EnumerateArray().Select(i => i.GetString()!).ToArray();
        var batch = result.GetProperty("batch").EnumerateArray().Select(i => i.GetString()!).ToArray();
        Assert.Single(single);
        Assert.Equal(3, batch.Length);
        Assert.Single(result.GetProperty("voided").EnumerateArray());
        Assert.Equal(422, result.GetProperty("refused").GetProperty("status").GetInt32());
        Assert.True(result.GetProperty("refused").GetProperty("problem").GetProperty("errors").TryGetProperty("object.id", out _), output);

        var enrolment = await app.GetEnrolmentAsync(enrolmentId);
        var completed = enrolment.GetProperty("modules").EnumerateArray()
            .Where(m => m.GetProperty("completedAt").ValueKind == JsonValueKind.String).Select(m => m.GetProperty("id").GetString()!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["adaptive-teaching", "identification"], completed);
        // Reported after the session (it ran from -2 h to -1 h) with no timestamp: attendance counts from its end, as the register does.
        Assert.Equal(app.Clock.GetUtcNow().AddHours(-1), enrolment.GetProperty("sessions").EnumerateArray().Single().GetProperty("attendedAt").GetDateTimeOffset());
        Assert.Equal(5, app.Count("xapi_statements", $"enrolment_id = '{enrolmentId}'"));
        Assert.Equal(1, app.Count("xapi_statements", $"id = '{single[0]}' AND verb = 'http://adlnet.gov/expapi/verbs/completed'"));
    }

    private static void RequirePackage()
    {
        if (Directory.Exists(Path.Combine(Modules, "@xapi", "xapi")))
        {
            return;
        }

        var message = $"the npm package @xapi/xapi is not installed in {Modules} (npm install --prefix .tools @xapi/xapi).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + " CI must install it.");
        }

        Assert.Skip(message);
    }

    private static async Task<string> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("node", [Repository.File("tests", "SendWorkflows.Tests", "Xapi", "lms-client.cjs"), .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["NODE_PATH"] = Modules },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(process.ExitCode == 0, $"the xAPI client failed: {await errors}");
        return await output;
    }
}
