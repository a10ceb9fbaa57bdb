using SendWorkflows.Tests.TestSupport;

namespace SendWorkflows.Tests.Hosting;

public sealed class WorkflowLoopTests
{
    [Fact]
    public async Task standalone_the_loop_sends_new_emails_without_anyone_calling_tick()
    {
        await using var app = new TestApp(settings: new() { ["Workflow:RunInBackground"] = "true", ["Workflow:TickInterval"] = "01:00:00" });
        await app.EnrolAsync("T-1");

        // The loop is woken by the write itself, not by its hour-long interval; poll for the file
        // with a generous limit so a slow machine cannot fail the test.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (app.OutboxFiles("welcome").Length == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Single(app.OutboxFiles("welcome"));
    }
}
