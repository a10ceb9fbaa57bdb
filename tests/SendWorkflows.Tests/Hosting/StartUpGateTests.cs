using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SendWorkflows.Hosting;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>
/// Start-up's own work (migrations, the bundled programme, the first admin key) runs while the host
/// binds its port: nothing that needs it runs before it is done, and if it fails the service stops.
/// </summary>
public sealed class StartUpGateTests
{
    [Fact]
    public async Task a_request_that_arrives_while_start_up_work_runs_waits_for_it_and_is_then_answered()
    {
        var gate = new StartUpGate();
        var work = new TaskCompletionSource();
        gate.Begin(() => work.Task);
        var passed = false;

        var request = gate.HoldUntilReadyAsync(new DefaultHttpContext(), _ => { passed = true; return Task.CompletedTask; });
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.False(request.IsCompleted);
        Assert.False(passed);
        var started = ((IHostedLifecycleService)gate).StartedAsync(TestContext.Current.CancellationToken);
        Assert.False(started.IsCompleted);

        work.SetResult();
        await request;
        await started;
        Assert.True(passed);
    }

    [Fact]
    public async Task if_start_up_work_fails_requests_get_503_and_the_host_does_not_report_itself_started()
    {
        var gate = new StartUpGate();
        gate.Begin(() => throw new InvalidOperationException("migration 0003 failed"));
        var context = new DefaultHttpContext();
        var passed = false;

        await gate.HoldUntilReadyAsync(context, _ => { passed = true; return Task.CompletedTask; });

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.False(passed);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => ((IHostedLifecycleService)gate).StartedAsync(TestContext.Current.CancellationToken));
        Assert.Equal("migration 0003 failed", failure.Message);
    }

    [Fact]
    public async Task work_begun_in_two_parts_holds_requests_until_both_are_done()
    {
        var gate = new StartUpGate();
        var migrations = new TaskCompletionSource();
        var warmUp = new TaskCompletionSource();
        gate.Begin(() => migrations.Task);
        gate.Begin(() => warmUp.Task);
        var passed = false;

        var request = gate.HoldUntilReadyAsync(new DefaultHttpContext(), _ => { passed = true; return Task.CompletedTask; });
        warmUp.SetResult();
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.False(request.IsCompleted);
        Assert.False(gate.Ready.IsCompleted);

        migrations.SetResult();
        await request;
        Assert.True(passed);
    }

    [Fact]
    public async Task with_no_start_up_work_begun_the_gate_is_open()
    {
        var gate = new StartUpGate();
        var passed = false;

        await gate.HoldUntilReadyAsync(new DefaultHttpContext(), _ => { passed = true; return Task.CompletedTask; });

        Assert.True(passed);
        Assert.True(gate.Ready.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task once_the_app_reports_itself_started_its_store_is_migrated_and_holds_the_bundled_programme()
    {
        await using var app = new TestApp();

        // Reading the services starts the host; nothing goes through HTTP, so nothing waits at the gate.
        var gate = app.Services.GetRequiredService<StartUpGate>();

        Assert.True(gate.Ready.IsCompletedSuccessfully);
        var store = app.Services.GetRequiredService<SendWorkflows.Storage.IWorkflowStore>();
        Assert.NotNull(await store.GetProgrammeAsync(TestApp.Programme, null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task a_process_whose_start_up_work_fails_exits_with_the_error_instead_of_serving()
    {
        // PostgreSQL on a port where nothing listens: the migrations, run while the host starts, fail.
        var closed = Repository.FreePort().ToString(CultureInfo.InvariantCulture);
        var port = Repository.FreePort().ToString(CultureInfo.InvariantCulture);
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "SendWorkflows.dll"),
            "--urls", $"http://127.0.0.1:{port}",
            "--Storage:Provider=postgres",
            $"--Storage:ConnectionString=Host=127.0.0.1;Port={closed};Database=none;Username=none;Password=none;Timeout=5",
            "--Workflow:RunInBackground=true",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory.CreateTempSubdirectory("sendworkflows-failed-start-").FullName,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("The service kept running after its migrations failed.");
        }

        Assert.NotEqual(0, process.ExitCode);
        // The error names the database it could not reach (the port alone would also be in Kestrel's own lines).
        Assert.Contains($"127.0.0.1:{closed}", await errors + await output, StringComparison.Ordinal);
    }
}
