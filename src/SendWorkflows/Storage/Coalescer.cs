using System.Threading.Channels;

namespace SendWorkflows.Storage;

/// <summary>
/// Turns concurrent single requests into batches: each caller hands in one item and gets back its
/// own result, while the items that arrived together are carried to the database in one round trip.
/// The PostgreSQL store uses it for the two statements every progress event makes: reading the
/// enrolment, and saving the decision (a group commit: one transaction, one WAL flush per batch).
/// </summary>
/// <remarks>
/// <para>Nothing waits to fill a batch: an item that arrives alone goes at once, alone. While one batch
/// is with the server the next gathers, so batches grow only while requests queue.</para>
/// <para>If a batch fails in a way that proves none of it took effect (the server refused it: a
/// deadlock with another instance, one bad item), each of its items is tried again on its own, so only
/// a bad one fails. Any other failure (a connection lost after the commit may have happened) fails
/// every item of the batch rather than guess. A caller learns its result only once its batch has
/// completed (for writes: committed).</para>
/// </remarks>
internal sealed class Coalescer<TIn, TOut> : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TIn>, Task<TOut[]>> _execute;
    private readonly Func<Exception, bool> _tookNoEffect;
    private readonly int _maxBatch;
    private readonly Channel<(TIn Item, TaskCompletionSource<TOut> Done)> _queue =
        Channel.CreateUnbounded<(TIn, TaskCompletionSource<TOut>)>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task[] _flushers;

    /// <param name="execute">Carries a batch to the database; returns one result per item, in order.</param>
    /// <param name="tookNoEffect">Whether a batch that threw this is known to have changed nothing, so its items may be tried again one by one.</param>
    /// <param name="flushers">Batches in flight at once.</param>
    public Coalescer(Func<IReadOnlyList<TIn>, Task<TOut[]>> execute, Func<Exception, bool> tookNoEffect, int maxBatch = 64, int flushers = 2)
    {
        _execute = execute;
        _tookNoEffect = tookNoEffect;
        _maxBatch = maxBatch;
        _flushers = Enumerable.Range(0, flushers).Select(_ => Task.Run(FlushLoopAsync)).ToArray();
    }

    public Task<TOut> RunAsync(TIn item)
    {
        var done = new TaskCompletionSource<TOut>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((item, done)))
        {
            throw new ObjectDisposedException(nameof(Coalescer<TIn, TOut>));
        }

        return done.Task;
    }

    private async Task FlushLoopAsync()
    {
        var batch = new List<(TIn Item, TaskCompletionSource<TOut> Done)>(_maxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _maxBatch && _queue.Reader.TryRead(out var entry))
            {
                batch.Add(entry);
            }

            if (batch.Count > 0)
            {
                await FlushAsync(batch);
            }
        }
    }

    private async Task FlushAsync(List<(TIn Item, TaskCompletionSource<TOut> Done)> batch)
    {
        try
        {
            var results = await _execute(batch.Select(b => b.Item).ToList());
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Done.TrySetResult(results[i]);
            }
        }
        catch (Exception refused) when (batch.Count > 1 && _tookNoEffect(refused))
        {
            // Nothing of the batch took effect: each item again on its own, so only a bad one fails.
            foreach (var (item, done) in batch)
            {
                try
                {
                    done.TrySetResult((await _execute([item]))[0]);
                }
                catch (Exception e)
                {
                    done.TrySetException(e);
                }
            }
        }
        catch (Exception e)
        {
            foreach (var (_, done) in batch)
            {
                done.TrySetException(e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_flushers);
    }
}
