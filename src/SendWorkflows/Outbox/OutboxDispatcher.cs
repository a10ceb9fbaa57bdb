using System.Text.Json;
using Microsoft.Extensions.Options;
using SendWorkflows.Email;
using SendWorkflows.Http;
using SendWorkflows.Storage;
using SendWorkflows.Webhooks;
using SendWorkflows.Workflow;

namespace SendWorkflows.Outbox;

public sealed class OutboxOptions
{
    /// <summary>Attempts before an effect is given up on and marked dead.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Wait after the first failure; each further failure doubles it, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(6);

    /// <summary>Effects claimed per pass: as many as SendGrid takes in one request, so reminders go in full batches.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>How long a claimed effect is reserved for the worker that claimed it; a crashed worker's claims expire.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Passes an instance runs at once when draining a backlog (a first pass that claimed a full
    /// <see cref="BatchSize"/>): while one waits for the email provider or the database, another
    /// composes. Each claims its own effects under the lease.
    /// </summary>
    public int ConcurrentPasses { get; set; } = 2;
}

public sealed record DispatchResult(int Claimed, int Sent, int Failed, int Dead);

/// <summary>
/// Carries effects out of the outbox: claims due rows under a lease, performs them outside any
/// transaction, then records each outcome. A failure is retried with exponential back-off and, after
/// <see cref="OutboxOptions.MaxAttempts"/>, left in the visible <c>dead</c> state.
/// </summary>
public sealed class OutboxDispatcher(
    IWorkflowStore store,
    IEmailTransport transport,
    EmailComposer composer,
    Certificates.CertificateIssuer certificates,
    WebhookSender webhookSender,
    TimeProvider clock,
    IOptions<OutboxOptions> options,
    IOptions<WebhookOptions> webhookOptions,
    ILogger<OutboxDispatcher> logger)
{
    private readonly OutboxOptions _options = options.Value;

    /// <summary>
    /// Runs passes until nothing is due, a pass sends nothing (what is left is failing or waiting for
    /// the provider: the next tick tries again), or <paramref name="keepGoing"/> says stop. When the
    /// first pass claims a full batch there is a backlog, and up to
    /// <see cref="OutboxOptions.ConcurrentPasses"/> runners drain it at once, each stopping on its own;
    /// otherwise passes run one after another, so what one pass learns (a subscription answering
    /// 410 Gone) holds for the next. A runner that fails stops the others after their current pass.
    /// Returns the passes' totals.
    /// </summary>
    public async Task<DispatchResult> DrainAsync(Func<bool> keepGoing, CancellationToken ct)
    {
        int claimed = 0, sent = 0, failed = 0, dead = 0, stop = 0;
        bool Add(DispatchResult result)
        {
            Interlocked.Add(ref claimed, result.Claimed);
            Interlocked.Add(ref sent, result.Sent);
            Interlocked.Add(ref failed, result.Failed);
            Interlocked.Add(ref dead, result.Dead);
            return result.Claimed > 0 && result.Sent > 0;
        }

        async Task PassesAsync()
        {
            try
            {
                // One runner that finds nothing left while another is still sending must not stop that
                // one, whose pass may queue more (an issued certificate's email).
                while (Volatile.Read(ref stop) == 0 && keepGoing() && Add(await DispatchDueAsync(ct)))
                {
                }
            }
            catch
            {
                Volatile.Write(ref stop, 1); // the others finish the pass they are in, then stop
                throw;
            }
        }

        if (!keepGoing())
        {
            return new DispatchResult(0, 0, 0, 0);
        }

        var first = await DispatchDueAsync(ct);
        if (!Add(first))
        {
            return new DispatchResult(claimed, sent, failed, dead);
        }

        var runners = first.Claimed >= _options.BatchSize ? Math.Max(1, _options.ConcurrentPasses) : 1;
        await Task.WhenAll(Enumerable.Range(0, runners).Select(_ => Task.Run(PassesAsync, CancellationToken.None)));
        return new DispatchResult(claimed, sent, failed, dead);
    }

    public async Task<DispatchResult> DispatchDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        IReadOnlyList<OutboxItem> claimed;
        await using (var tx = await store.BeginAsync(ct))
        {
            claimed = await tx.ClaimDueOutboxAsync(now, _options.BatchSize, now + _options.Lease);
            await tx.CommitAsync();
        }

        if (claimed.Count == 0)
        {
            return new DispatchResult(0, 0, 0, 0);
        }

        // Errors are kept with the effect (the store holds personal data anyway) but never logged:
        // a relay's error text can quote the recipient's address.
        var outcomes = new List<(OutboxItem Item, string? Error, bool Permanent)>(claimed.Count);
        var cancelled = new List<(OutboxItem Item, string Reason)>();
        DateTimeOffset? slowDownUntil = null;
        var emails = new List<(OutboxItem Item, EmailEffect Effect)>();
        var webhooks = new List<(OutboxItem Item, WebhookMessage Message)>();
        var webhookAttempts = new Dictionary<long, (OutboxItem Item, WebhookMessage Message, WebhookSender.Result Result)>();
        foreach (var item in claimed)
        {
            if (ct.IsCancellationRequested)
            {
                break; // out of budget or shutting down: what was done is recorded below; the rest is let go
            }

            try
            {
                switch (item.Kind)
                {
                    case "email":
                        emails.Add((item, JsonSerializer.Deserialize<EmailEffect>(item.Payload, JsonBody.Options)
                                          ?? throw new InvalidOperationException("The email effect's payload is empty.")));
                        break;
                    case "certificate":
                        var issue = JsonSerializer.Deserialize<IssueCertificate>(item.Payload, JsonBody.Options)
                                    ?? throw new InvalidOperationException("The certificate effect's payload is empty.");
                        await certificates.IssueAsync(issue, ct);
                        outcomes.Add((item, null, false));
                        break;
                    case "webhook":
                        webhooks.Add((item, JsonSerializer.Deserialize<WebhookMessage>(item.Payload, JsonBody.Options)
                                            ?? throw new InvalidOperationException("The webhook effect's payload is empty.")));
                        break;
                    default:
                        throw new InvalidOperationException($"No dispatcher handles effects of kind '{item.Kind}'.");
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                outcomes.Add((item, $"{e.GetType().Name}: {e.Message}", false));
            }
        }

        if (emails.Count > 0 && !ct.IsCancellationRequested)
        {
            slowDownUntil = await SendEmailsAsync(emails, outcomes, cancelled, ct);
        }

        if (webhooks.Count > 0 && !ct.IsCancellationRequested)
        {
            await SendWebhooksAsync(webhooks, outcomes, cancelled, webhookAttempts, ct);
        }

        int sent = 0, failed = 0, dead = 0;
        await using (var tx = await store.BeginAsync(CancellationToken.None))
        {
            var finishedAt = clock.GetUtcNow();
            var done = outcomes.Where(o => o.Error is null).Select(o => o.Item.Id).ToList();
            await tx.MarkSentAsync(done, finishedAt);
            sent = done.Count;
            foreach (var id in done)
            {
                await RecordWebhookAttemptAsync(tx, webhookAttempts, id, WebhookOutcome.Delivered, null);
            }

            foreach (var (item, error, permanent) in outcomes.Where(o => o.Error is not null))
            {
                var attempts = item.Attempts + 1;
                var retryAt = permanent || attempts >= _options.MaxAttempts ? (DateTimeOffset?)null : finishedAt + RetryDelay(attempts);
                await tx.MarkFailedAsync(item.Id, attempts, retryAt, Truncate(error!, 1000));
                await RecordWebhookAttemptAsync(tx, webhookAttempts, item.Id, retryAt is null ? WebhookOutcome.Dead : WebhookOutcome.Retrying, retryAt);
                if (retryAt is null)
                {
                    dead++;
                    logger.LogError("Outbox effect {EffectId} ({Template}) failed {Attempts} times and is now dead; see its lastError in the outbox.",
                        item.Id, item.Template, attempts);
                }
                else
                {
                    failed++;
                    logger.LogWarning("Outbox effect {EffectId} ({Template}) failed attempt {Attempts}; retrying at {RetryAt:O}.",
                        item.Id, item.Template, attempts, retryAt);
                }
            }

            foreach (var (item, reason) in cancelled)
            {
                await tx.MarkCancelledAsync(item.Id, reason);
                if (webhookAttempts.TryGetValue(item.Id, out var gone) && gone.Result.Gone)
                {
                    await tx.DisableWebhookSubscriptionAsync(gone.Message.SubscriptionId, reason, finishedAt);
                    await RecordWebhookAttemptAsync(tx, webhookAttempts, item.Id, WebhookOutcome.Disabled, null);
                    logger.LogWarning("Webhook subscription {SubscriptionId} answered 410 Gone and is disabled.", gone.Message.SubscriptionId);
                }
            }

            // What this pass claimed but did not settle: the rest of the pass when the provider asked to
            // slow down waits until it is ready; what the tick's budget or a shutdown cut off is let go
            // now, for the next pass (here or on another instance), rather than held for the whole lease.
            // The lease only covers an instance that dies mid-pass.
            var settled = outcomes.Select(o => o.Item.Id).Concat(cancelled.Select(c => c.Item.Id)).ToHashSet();
            foreach (var item in claimed.Where(c => !settled.Contains(c.Id)))
            {
                await tx.PostponeAsync(item.Id, slowDownUntil ?? finishedAt);
            }

            await tx.CommitAsync();
        }

        return new DispatchResult(claimed.Count, sent, failed, dead);
    }

    /// <summary>30 s, 1 min, 2 min, … doubling up to the maximum.</summary>
    public TimeSpan RetryDelay(int attempts)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(_options.RetryBaseDelay.Ticks * factor, _options.RetryMaxDelay.Ticks));
        return delay;
    }

    /// <summary>
    /// Sends a pass's emails together, so a transport that batches (SendGrid) can: reminders that are
    /// no longer wanted are cancelled and suppressed addresses refused, each checked for the whole
    /// pass in one query. Returns when sending may resume if the provider asked to slow down.
    /// </summary>
    private async Task<DateTimeOffset?> SendEmailsAsync(
        List<(OutboxItem Item, EmailEffect Effect)> emails,
        List<(OutboxItem Item, string? Error, bool Permanent)> outcomes,
        List<(OutboxItem Item, string Reason)> cancelled,
        CancellationToken ct)
    {
        Dictionary<Guid, ReminderStanding> standings;
        IReadOnlySet<string> suppressed;
        try
        {
            var reminders = emails.Where(e => Cancellable(e.Effect.Template) && e.Item.EnrolmentId is not null)
                .Select(e => e.Item.EnrolmentId!.Value).ToList();
            standings = (await store.ReminderStandingsAsync(reminders, ct)).ToDictionary(s => s.EnrolmentId);
            suppressed = await store.SuppressedAmongAsync(emails.Select(e => e.Effect.To.Email).ToList(), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // Recorded against each email like any failure, so the pass's other outcomes are kept and back-off applies.
            outcomes.AddRange(emails.Select(x => (x.Item, (string?)$"{e.GetType().Name}: {e.Message}", false)));
            return null;
        }

        var sending = new List<OutboxItem>(emails.Count);
        var messages = new List<EmailMessage>(emails.Count);
        foreach (var (item, effect) in emails)
        {
            if (Cancellable(effect.Template) && item.EnrolmentId is { } id &&
                standings.TryGetValue(id, out var standing) && WhyNotWanted(standing, effect.Template) is { } why)
            {
                // Decided while it was due, but the person has finished, left or opted out since: it would be wrong to send it now.
                cancelled.Add((item, why));
            }
            else if (suppressed.Contains(effect.To.Email.ToLowerInvariant()))
            {
                // The address bounced, was blocked or reported spam: sending again only harms delivery for everyone.
                outcomes.Add((item, "refused for good: the address is suppressed after a bounce, block or spam report.", true));
            }
            else
            {
                try
                {
                    // Dated when the effect was decided, so a resend after a crash is the same message, byte for byte.
                    messages.Add(composer.Compose(item, effect, item.CreatedAt));
                    sending.Add(item);
                }
                catch (Exception e)
                {
                    // One email that cannot be rendered (a template this release does not have) fails alone.
                    outcomes.Add((item, $"{e.GetType().Name}: {e.Message}", false));
                }
            }
        }

        if (messages.Count == 0)
        {
            return null;
        }

        DateTimeOffset? slowDownUntil = null;
        var results = await transport.SendManyAsync(messages, ct);
        for (var i = 0; i < sending.Count; i++)
        {
            switch (results[i])
            {
                case null:
                    outcomes.Add((sending[i], null, false));
                    break;
                case RateLimitedException e:
                    // Not this effect's fault: it and the rest of the pass wait until the provider is ready.
                    slowDownUntil ??= e.RetryAt;
                    break;
                case OperationCanceledException when ct.IsCancellationRequested:
                    break; // out of budget or shutting down, not attempted: it is let go for the next pass
                case PermanentDeliveryException e:
                    outcomes.Add((sending[i], $"refused for good: {e.Message}", true));
                    break;
                case var e:
                    outcomes.Add((sending[i], $"{e.GetType().Name}: {e.Message}", false));
                    break;
            }
        }

        if (slowDownUntil is { } until)
        {
            logger.LogWarning("The email provider asked to slow down; sending resumes at {RetryAt:O}.", until);
        }

        return slowDownUntil;
    }

    /// <summary>
    /// Delivers a pass's webhooks, a few at a time. A subscription deleted or disabled since the event
    /// was queued, or whose API client was revoked, gets nothing: its delivery is cancelled. Every
    /// attempt is kept in <paramref name="attempts"/> for the subscriber's delivery log.
    /// </summary>
    private async Task SendWebhooksAsync(
        List<(OutboxItem Item, WebhookMessage Message)> webhooks,
        List<(OutboxItem Item, string? Error, bool Permanent)> outcomes,
        List<(OutboxItem Item, string Reason)> cancelled,
        Dictionary<long, (OutboxItem Item, WebhookMessage Message, WebhookSender.Result Result)> attempts,
        CancellationToken ct)
    {
        IReadOnlyDictionary<Guid, WebhookTarget> targets;
        try
        {
            targets = await store.WebhookTargetsAsync(webhooks.Select(w => w.Message.SubscriptionId).ToList(), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            outcomes.AddRange(webhooks.Select(w => (w.Item, (string?)$"{e.GetType().Name}: {e.Message}", false)));
            return;
        }

        var sending = new List<(OutboxItem Item, WebhookMessage Message, WebhookTarget Target)>(webhooks.Count);
        foreach (var (item, message) in webhooks)
        {
            if (!targets.TryGetValue(message.SubscriptionId, out var target))
            {
                cancelled.Add((item, "the subscription was deleted before it was sent."));
            }
            else if (target.InactiveBecause is { } why)
            {
                cancelled.Add((item, why));
            }
            else
            {
                sending.Add((item, message, target));
            }
        }

        var results = new WebhookSender.Result?[sending.Count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, sending.Count),
                new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, webhookOptions.Value.MaxConcurrentDeliveries), CancellationToken = ct },
                async (i, token) => results[i] = await webhookSender.SendAsync(sending[i].Target, sending[i].Message, token));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Shutting down or out of budget: what finished is recorded; the rest waits out its lease.
        }

        for (var i = 0; i < sending.Count; i++)
        {
            if (results[i] is not { } result)
            {
                continue;
            }

            var (item, message, _) = sending[i];
            attempts[item.Id] = (item, message, result);
            if (result.Delivered)
            {
                outcomes.Add((item, null, false));
            }
            else if (result.Gone)
            {
                cancelled.Add((item, "the receiver answered 410 Gone: the subscription is disabled."));
            }
            else
            {
                outcomes.Add((item, result.Error, false));
            }
        }
    }

    private static async Task RecordWebhookAttemptAsync(
        IStoreTransaction tx, Dictionary<long, (OutboxItem Item, WebhookMessage Message, WebhookSender.Result Result)> attempts, long outboxId,
        string outcome, DateTimeOffset? nextAttemptAt)
    {
        if (!attempts.TryGetValue(outboxId, out var a))
        {
            return;
        }

        var (item, message, result) = a;
        var attempt = new WebhookAttempt(message.SubscriptionId, outboxId, message.Event.Type, result.WebhookId, item.Attempts + 1, result.AttemptedAt,
            result.StatusCode, result.Error is null ? null : Truncate(result.Error, 1000), outcome, nextAttemptAt);
        await tx.RecordWebhookAttemptAsync(attempt);
    }

    /// <summary>Reminders, and session reminders, can be overtaken by events between being decided and being sent.</summary>
    private static bool Cancellable(string template) => EmailTemplates.IsNonEssential(template) || template == EmailTemplates.SessionReminder;

    private static string? WhyNotWanted(ReminderStanding s, string template) =>
        s.Completed ? "the person completed the programme before it was sent."
        : s.Withdrawn ? "the person was withdrawn before it was sent."
        : s.RemindersOff && EmailTemplates.IsNonEssential(template) ? "the person turned reminder emails off before it was sent."
        : s.EmailBounced ? "the person's address was reported undeliverable before it was sent."
        : s.Started && template == EmailTemplates.NotStarted ? "the person started before it was sent."
        : null;

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];
}
