using SendWorkflows.Storage;
using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

/// <summary>Stopping the service at any point and starting it again on the same file loses nothing.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task state_and_unsent_emails_survive_a_restart_and_due_work_resumes()
    {
        var root = Directory.CreateTempSubdirectory("sendworkflows-restart-").FullName;
        var clock = new ManualClock();
        string first, second;
        await using (var before = new TestApp(root, clock))
        {
            await before.PublishSmallProgrammeAsync("short", liveSessions: 0, window: "P10D");
            first = await before.EnrolAsync("T-1", programme: "short");
            second = await before.EnrolAsync("T-2", programme: "short");
            await before.Admin().PostAsync($"/api/v1/enrolments/{first}/modules/m1/completion", null);
            Assert.Empty(before.OutboxFiles());
        }

        await using (var after = new TestApp(root, clock))
        {
            Assert.Equal("in_progress", await after.StatusOfAsync(first));
            Assert.Equal("enrolled", await after.StatusOfAsync(second));
            Assert.Equal(2, (await after.TickAsync()).GetProperty("effectsSent").GetInt32());
            Assert.Equal(2, after.OutboxFiles("welcome").Length);

            clock.Advance(TimeSpan.FromDays(10));
        }

        await using (var later = new TestApp(root, clock))
        {
            var tick = await later.TickAsync();
            Assert.Equal(2, tick.GetProperty("timersFired").GetInt32());
            Assert.Equal(0, tick.GetProperty("effectsSent").GetInt32());
            Assert.Equal("lapsed", await later.StatusOfAsync(first));
            Assert.Equal("lapsed", await later.StatusOfAsync(second));
            Assert.Equal(2, later.OutboxFiles().Length);
        }

        TestStore.Remove(root);
    }

    [Fact]
    public async Task emails_claimed_by_a_worker_that_died_are_sent_once_its_lease_expires()
    {
        var root = Directory.CreateTempSubdirectory("sendworkflows-restart-").FullName;
        var clock = new ManualClock();
        await using (var crashed = new TestApp(root, clock))
        {
            await crashed.EnrolAsync("T-1");
            // Claim the welcome email as a dispatcher would, then stop before sending it.
            var store = crashed.Service<IWorkflowStore>();
            await using var tx = await store.BeginAsync(CancellationToken.None);
            Assert.Single(await tx.ClaimDueOutboxAsync(clock.GetUtcNow(), 10, clock.GetUtcNow().AddMinutes(5)));
            await tx.CommitAsync();
        }

        await using (var restarted = new TestApp(root, clock))
        {
            Assert.Equal(0, (await restarted.TickAsync()).GetProperty("effectsSent").GetInt32());
            clock.Advance(TimeSpan.FromMinutes(5));
            Assert.Equal(1, (await restarted.TickAsync()).GetProperty("effectsSent").GetInt32());
            Assert.Single(restarted.OutboxFiles("welcome"));
        }

        TestStore.Remove(root);
    }
}
