namespace SendWorkflows.Hosting;

/// <summary>
/// Lets start-up's own work (migrations, the bundled programme, the first admin key) run on one core
/// while the host builds its pipeline and binds its port on the other, and keeps everything that
/// needs that work behind it: requests wait for it just after routing, the background loop
/// waits before its first pass, and the host does not report itself started until it is done. If it
/// fails, the host's start fails with its exception, as it would have had it run first.
/// </summary>
public sealed class StartUpGate : IHostedLifecycleService
{
    private Task _work = Task.CompletedTask;

    /// <summary>Done when start-up's work is; at once if none was begun.</summary>
    public Task Ready => _work;

    /// <summary>
    /// Begins <paramref name="work"/> on the thread pool, beside any begun before; call it before the
    /// host starts, from the thread that starts it.
    /// </summary>
    public void Begin(Func<Task> work)
    {
        var begun = Task.Run(work);
        _work = _work == Task.CompletedTask ? begun : Task.WhenAll(_work, begun);
    }

    /// <summary>
    /// Middleware: a request that arrives while start-up's work is still running waits for it; if that
    /// work failed, the request gets a 503 while the host stops.
    /// </summary>
    public async Task HoldUntilReadyAsync(HttpContext context, RequestDelegate next)
    {
        if (!_work.IsCompletedSuccessfully)
        {
            try
            {
                await _work.WaitAsync(context.RequestAborted);
            }
            catch (Exception) when (_work.IsFaulted)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
        }

        await next(context);
    }

    Task IHostedLifecycleService.StartedAsync(CancellationToken cancellationToken) => _work.WaitAsync(cancellationToken);

    Task IHostedLifecycleService.StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedLifecycleService.StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
