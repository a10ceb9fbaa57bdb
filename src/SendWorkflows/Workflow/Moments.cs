namespace SendWorkflows.Workflow;

/// <summary>
/// Every time the workflow keeps is whole milliseconds: the store's resolution. Otherwise a deadline
/// kept to the tick and a wake time stored to the millisecond could disagree about whether it has
/// passed, and the same report read back from the store would look like a different one.
/// </summary>
public static class Moments
{
    public static DateTimeOffset Truncate(DateTimeOffset at) =>
        DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()).ToOffset(at.Offset);

    public static WorkflowEvent Truncate(WorkflowEvent evt) => evt switch
    {
        ModuleCompleted m => m with { CompletedAt = Truncate(m.CompletedAt) },
        LiveSessionBooked b => b with { StartsAt = Truncate(b.StartsAt) },
        SessionAttended a => a with { AttendedAt = Truncate(a.AttendedAt) },
        DeadlineExtended d => d with { NewDeadline = Truncate(d.NewDeadline) },
        TimerFired t => t with { DueAt = Truncate(t.DueAt) },
        _ => evt,
    };
}
