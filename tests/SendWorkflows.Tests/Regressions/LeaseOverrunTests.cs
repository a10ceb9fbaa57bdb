using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Regressions;

/// <summary>
/// An instance that outlived its claim (frozen, or its last write held up by a database failover)
/// recorded a failure after another instance had taken the row over and sent it, turning the sent
/// row back to pending: the email would have gone a third time.
/// </summary>
public sealed class LeaseOverrunTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task a_worker_whose_lease_ran_out_cannot_undo_the_send_of_the_worker_that_took_over()
    {
        await using var open = await TestStore.OpenNewAsync();
        var store = open.Store;
        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await tx.EnqueueEffectsAsync(null,
                [new EmailEffect("welcome", "welcome:1", new EmailRecipient("t-1@school100004.example.org", "Nia Adebayo"), new Dictionary<string, string>())],
                Now);
            await tx.CommitAsync();
        }

        var lease = TimeSpan.FromMinutes(5);
        var first = await ClaimAsync(store, Now, lease);
        var later = Now + lease + TimeSpan.FromSeconds(1);
        var second = await ClaimAsync(store, later, lease);
        Assert.Equal(first.Id, second.Id);

        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            await tx.MarkSentAsync([second.Id], later);
            await tx.CommitAsync();
        }

        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            // The first worker, late: its send failed, it says, and asks for another try.
            await tx.MarkFailedAsync(first.Id, 1, later.AddMinutes(1), "timeout");
            await tx.MarkCancelledAsync(first.Id, "no longer wanted");
            await tx.PostponeAsync(first.Id, later.AddHours(1));
            await tx.CommitAsync();
        }

        var row = Assert.Single(await store.ListOutboxAsync(null, null, 10, CancellationToken.None));
        Assert.Equal(OutboxStatus.Sent, row.Status);
        Assert.Null(row.LastError);
        Assert.Empty(await ClaimAllAsync(store, later.AddDays(1)));
    }

    private static async Task<OutboxItem> ClaimAsync(IWorkflowStore store, DateTimeOffset now, TimeSpan lease)
    {
        await using var tx = await store.BeginAsync(CancellationToken.None);
        var claimed = Assert.Single(await tx.ClaimDueOutboxAsync(now, 10, now + lease));
        await tx.CommitAsync();
        return claimed;
    }

    private static async Task<IReadOnlyList<OutboxItem>> ClaimAllAsync(IWorkflowStore store, DateTimeOffset now)
    {
        await using var tx = await store.BeginAsync(CancellationToken.None);
        var claimed = await tx.ClaimDueOutboxAsync(now, 10, now.AddMinutes(5));
        await tx.CommitAsync();
        return claimed;
    }
}
