using SendWorkflows.Tests.Workflow;
using SendWorkflows.Webhooks;
using SendWorkflows.Workflow;

namespace SendWorkflows.Tests.Webhooks;

/// <summary>What the decider publishes for subscribers, decided with the state change itself.</summary>
public sealed class PublishedEventTests
{
    private static List<Published> Published(DeciderScenario s, string type) => s.Effects.OfType<Published>().Where(p => p.Type == type).ToList();

    [Fact]
    public void completion_is_published_once_with_the_completion_time_and_no_personal_details()
    {
        var s = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        Assert.Empty(s.Effects.OfType<Published>());
        s.After(TimeSpan.FromDays(2));
        var done = s.Now.AddHours(-3);
        s.Apply(new ModuleCompleted("m1", done.AddHours(-1)));
        s.Apply(new ModuleCompleted("m2", done));

        var completed = Assert.Single(Published(s, PublishedEvents.EnrolmentCompleted));
        Assert.Equal(s.Now, completed.Timestamp);
        Assert.Equal(new PublishedEnrolment(s.State.Id, "small", "100004", "T-1", EnrolmentStatus.Completed, done), completed.Data);

        // Later facts, an earlier completion time reported late, timers: nothing more to publish.
        s.Apply(new ModuleCompleted("extra", s.Now));
        s.Apply(new ModuleCompleted("m2", done.AddHours(-2)));
        s.Apply(new TimerFired(s.State.Deadline));
        Assert.Single(s.Effects.OfType<Published>());
    }

    [Fact]
    public void every_lapse_is_published_with_its_own_identity_and_a_repeated_timer_publishes_nothing()
    {
        var s = new DeciderScenario();
        var deadline = s.State.Deadline;
        s.RunUntil(deadline);
        var first = Assert.Single(Published(s, PublishedEvents.EnrolmentLapsed));
        Assert.Equal(EnrolmentStatus.Lapsed, first.Data.Status);
        Assert.Equal(deadline, first.Timestamp);
        Assert.Null(first.Data.CompletedAt);

        s.Apply(new TimerFired(deadline));
        Assert.Single(Published(s, PublishedEvents.EnrolmentLapsed));

        s.After(TimeSpan.FromDays(1)).Apply(new DeadlineExtended(deadline.AddDays(10)));
        s.RunUntil(deadline.AddDays(10));
        var lapses = Published(s, PublishedEvents.EnrolmentLapsed);
        Assert.Equal(2, lapses.Count);
        Assert.NotEqual(lapses[0].DedupeKey, lapses[1].DedupeKey);
        Assert.NotEqual(WebhookSignature.MessageId(lapses[0].DedupeKey), WebhookSignature.MessageId(lapses[1].DedupeKey));
    }

    [Fact]
    public void the_same_completion_decided_twice_has_the_same_identity()
    {
        var a = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        var b = new DeciderScenario(DeciderScenario.Programme(liveSessions: 0));
        b.After(TimeSpan.FromMinutes(1));
        a.CompleteModules("m1", "m2");
        b.CompleteModules("m1", "m2");
        Assert.Equal(Published(a, PublishedEvents.EnrolmentCompleted)[0].DedupeKey, Published(b, PublishedEvents.EnrolmentCompleted)[0].DedupeKey);
    }
}
