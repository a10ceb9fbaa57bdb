using Microsoft.Extensions.Options;
using SendWorkflows.Outbox;
using SendWorkflows.Schools;
using SendWorkflows.Storage;
using SendWorkflows.Workflow;

namespace SendWorkflows.Hosting;

public sealed class WorkflowOptions
{
    /// <summary>How often the standalone loop sweeps timers and dispatches the outbox when nothing wakes it sooner.</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether this process runs the loop itself. Off when a scheduler calls <c>POST /tick</c> instead.</summary>
    public bool RunInBackground { get; set; } = true;

    /// <summary>The most one tick may spend before it stops and leaves the rest for the next.</summary>
    public TimeSpan TickBudget { get; set; } = TimeSpan.FromSeconds(50);

    public int SweepBatchSize { get; set; } = 500;

    /// <summary>
    /// How long a batch of due timers claimed by one instance is kept from the others (PostgreSQL);
    /// if the instance dies, another takes the batch once this has passed. Keep it above <see cref="TickBudget"/>.
    /// </summary>
    public TimeSpan TimerLease { get; set; } = EnrolmentWorkflow.DefaultTimerLease;

    /// <summary>How long an Idempotency-Key is remembered.</summary>
    public TimeSpan IdempotencyKeyLifetime { get; set; } = TimeSpan.FromHours(24);
}

public sealed record TickResult(bool Ran, int TimersFired, int EffectsSent, int EffectsFailed, int EffectsDead);

/// <summary>
/// One pass of the due-timer sweep and the outbox dispatcher. Single-flight: a second caller while a
/// pass is running returns at once, so calling it from a loop, a timer and <c>POST /tick</c> together is safe.
/// </summary>
public sealed class WorkflowPump(
    EnrolmentWorkflow workflow,
    OutboxDispatcher dispatcher,
    SchoolDigest digests,
    IWorkflowStore store,
    TimeProvider clock,
    IOptions<WorkflowOptions> options)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly WorkflowOptions _options = options.Value;

    public async Task<TickResult> RunOnceAsync(CancellationToken ct, TimeSpan? budget = null)
    {
        if (!await _gate.WaitAsync(0, ct))
        {
            return new TickResult(false, 0, 0, 0, 0);
        }

        // The budget is a hard limit: when it runs out, a sweep stops between enrolments and the
        // dispatcher stops between effects, recording what it sent; the rest waits for the next tick.
        var started = clock.GetTimestamp();
        var limit = budget ?? _options.TickBudget;
        using var deadline = new CancellationTokenSource(limit, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        var token = linked.Token;
        bool InBudget() => clock.GetElapsedTime(started) < limit && !token.IsCancellationRequested;
        try
        {
            // Idle, this is one read: the route is public behind the Functions catch-all, so a tick
            // with nothing due must cost next to nothing.
            var now = clock.GetUtcNow();
            await ForgetOldIdempotencyKeysAsync(now, token);
            try
            {
                // Reads nothing unless a week's digests are due; given at most half the budget, so a
                // Monday morning of digests never crowds out the sweep and the outbox.
                if (await digests.SendDueAsync(() => clock.GetElapsedTime(started) < limit / 2 && !token.IsCancellationRequested, token) > 0)
                {
                    now = clock.GetUtcNow(); // so the digests just queued are sent in this pass
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                // Out of budget: the schools not yet done are still due.
            }

            if (!await store.HasDueWorkAsync(now, token))
            {
                return new TickResult(true, 0, 0, 0, 0);
            }

            var fired = 0;
            try
            {
                while (InBudget())
                {
                    var batch = await workflow.FireDueTimersAsync(_options.SweepBatchSize, token, _options.TimerLease);
                    fired += batch;
                    if (batch == 0)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                // Out of budget mid-sweep: what was fired is committed; the rest is still due.
            }

            var dispatched = await dispatcher.DrainAsync(InBudget, token);
            return new TickResult(true, fired, dispatched.Sent, dispatched.Failed, dispatched.Dead);
        }
        finally
        {
            _gate.Release();
        }
    }

    private DateTimeOffset _lastForgotten = DateTimeOffset.MinValue;

    /// <summary>Idempotency keys older than their lifetime are deleted, at most every ten minutes.</summary>
    private async Task ForgetOldIdempotencyKeysAsync(DateTimeOffset now, CancellationToken ct)
    {
        if (now - _lastForgotten < TimeSpan.FromMinutes(10))
        {
            return;
        }

        await using (var tx = await store.BeginAsync(ct))
        {
            await tx.ForgetResponsesBeforeAsync(now - _options.IdempotencyKeyLifetime);
            await tx.CommitAsync();
        }

        _lastForgotten = now;
    }
}

/// <summary>
/// The standalone loop: a pass every <see cref="WorkflowOptions.TickInterval"/>, or at once when new work is written.
/// The pump, and everything it sends with, is made once the loop runs, not when the host makes its
/// hosted services: deployed, the loop is off and the timer's first tick makes it.
/// </summary>
public sealed class WorkflowLoop(IServiceProvider services, WorkSignal signal, StartUpGate startUp, TimeProvider clock, IOptions<WorkflowOptions> options, ILogger<WorkflowLoop> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.RunInBackground)
        {
            return;
        }

        // Let the host finish starting first: the store's calls complete synchronously, so without
        // this the first pass would run inside start-up and delay the first request.
        await Task.Yield();
        try
        {
            // Not before migrations have run; if start-up's work failed, the host is stopping with its error.
            await startUp.Ready.WaitAsync(stoppingToken);
        }
        catch (Exception) when (startUp.Ready.IsFaulted || stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var pump = services.GetRequiredService<WorkflowPump>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await pump.RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogError(e, "A workflow pass failed; the next pass will try again.");
            }

            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var interval = Task.Delay(options.Value.TickInterval, clock, wake.Token);
            var signalled = signal.WaitAsync(wake.Token);
            await Task.WhenAny(interval, signalled);
            await wake.CancelAsync();
        }
    }
}
