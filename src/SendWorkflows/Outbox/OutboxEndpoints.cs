using Microsoft.AspNetCore.Http.HttpResults;
using SendWorkflows.Clients;
using SendWorkflows.Http;
using SendWorkflows.Storage;

namespace SendWorkflows.Outbox;

/// <summary>Operators' view of the outbox: what is pending, what was sent, and what died and why (admin).</summary>
public static class OutboxEndpoints
{
    public sealed record OutboxItemView(long Id, string Kind, string Template, Guid? EnrolmentId, string Status, int Attempts,
        DateTimeOffset NextAttemptAt, string? LastError, DateTimeOffset CreatedAt, DateTimeOffset? SentAt);

    public static RouteGroupBuilder MapOutbox(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/outbox").WithTags("Outbox");
        group.MapGet("/", ListAsync).WithSummary("Effects by status (pending, sent, dead, cancelled), optionally for one enrolment (admin).");
        group.MapPost("/{id:long}/retry", RetryAsync).WithSummary("Give a dead effect a fresh set of attempts (admin).");
        return group;
    }

    private static async Task<Results<Ok<IReadOnlyList<OutboxItemView>>, ProblemHttpResult>> ListAsync(
        HttpContext http, IWorkflowStore store, string? status, string? enrolmentId, int? limit, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can read the outbox.");
        }

        if (status is not (null or OutboxStatus.Pending or OutboxStatus.Sent or OutboxStatus.Dead or OutboxStatus.Cancelled))
        {
            return Problems.Field("status", "must be pending, sent, dead or cancelled.");
        }

        Guid? enrolment = null;
        if (enrolmentId is not null)
        {
            if (!Guid.TryParse(enrolmentId, out var parsed))
            {
                return Problems.Field("enrolmentId", "must be an enrolment id.");
            }

            enrolment = parsed;
        }

        if (limit is < 1 or > 1000)
        {
            return Problems.Field("limit", "must be from 1 to 1000.");
        }

        var items = await store.ListOutboxAsync(status, enrolment, limit ?? 100, ct);
        return TypedResults.Ok<IReadOnlyList<OutboxItemView>>(items.Select(i => new OutboxItemView(i.Id, i.Kind, i.Template, i.EnrolmentId,
            i.Status, i.Attempts, i.NextAttemptAt, i.LastError, i.CreatedAt, i.SentAt)).ToList());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RetryAsync(
        long id, HttpContext http, IWorkflowStore store, TimeProvider clock, Workflow.WorkSignal signal, CancellationToken ct)
    {
        if (!http.Caller().IsAdmin)
        {
            return Problems.Forbidden("Authorization", "only an admin key can retry outbox effects.");
        }

        await using var tx = await store.BeginAsync(ct);
        var requeued = await tx.RequeueAsync(id, clock.GetUtcNow());
        await tx.CommitAsync();
        if (!requeued)
        {
            return Problems.NotFound("dead outbox effect", "id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        signal.Notify();
        return TypedResults.NoContent();
    }
}
