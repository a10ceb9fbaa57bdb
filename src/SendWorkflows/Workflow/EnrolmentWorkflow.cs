using SendWorkflows.Programmes;
using SendWorkflows.Storage;

namespace SendWorkflows.Workflow;

public enum ApplyStatus
{
    /// <summary>The event changed the enrolment; its event, state and effects were written together.</summary>
    Applied,

    /// <summary>The event was valid but changed nothing (an older or repeated fact); nothing was written.</summary>
    Unchanged,

    /// <summary>An event with the same key is already stored; nothing was written.</summary>
    Duplicate,

    NotFound,
    Rejected,
}

public sealed record ApplyOutcome(ApplyStatus Status, StoredEnrolment? Enrolment, Rejection? Rejection = null, int Effects = 0);

public sealed record EnrolmentRequest(string ProgrammeId, string SchoolUrn, StaffMember Staff);

public sealed record EnrolOutcome(StoredEnrolment Enrolment, bool Created);

/// <summary>
/// Runs the decider against stored enrolments: load the state, decide, and write the event, the new
/// state (checked against its version) and the effects in one transaction. All I/O of the
/// orchestration happens here; all of its rules live in <see cref="EnrolmentDecider"/>.
/// </summary>
public sealed class EnrolmentWorkflow(
    IWorkflowStore store,
    ProgrammeCatalogue programmes,
    TimeProvider clock,
    WorkSignal signal,
    ILogger<EnrolmentWorkflow> logger)
{
    private const int MaxConcurrencyRetries = 3;

    /// <summary>
    /// Enrols each person in one transaction. A person already enrolled on the programme at the
    /// school is not enrolled again; changed contact details are applied to the existing enrolment.
    /// </summary>
    public async Task<IReadOnlyList<EnrolOutcome>> EnrolAsync(IReadOnlyList<(EnrolmentRequest Request, ProgrammeVersion Programme)> people, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var outcomes = new EnrolOutcome[people.Count];
                var effects = 0;
                await using (var tx = await store.BeginAsync(ct))
                {
                    var now = clock.GetUtcNow();
                    // Ids in the order the people came, so people enrolled together are stored together.
                    var ids = TimeOrderedIds.For(now, people.Count);
                    var decisions = people.Select((p, i) => EnrolmentDecider.Enrol(ids[i], p.Request.SchoolUrn, p.Request.Staff, p.Programme, now))
                        .ToList();
                    // Everyone new in one batch; then, in order, those already enrolled get their contact details applied.
                    var inserted = await tx.InsertEnrolmentsAsync(
                        decisions.Select((d, i) => new NewEnrolment(d.State, d.NextWakeAt, EventKeys.For(new Enrolled(people[i].Request.Staff)),
                            new Enrolled(people[i].Request.Staff), d.Effects)).ToList(), now);
                    for (var i = 0; i < people.Count; i++)
                    {
                        var decision = decisions[i];
                        if (inserted.Contains(decision.State.Id))
                        {
                            effects += decision.Effects.Count;
                            outcomes[i] = new EnrolOutcome(new StoredEnrolment(decision.State, 1, decision.NextWakeAt), Created: true);
                            continue;
                        }

                        var request = people[i].Request;
                        var id = await tx.FindEnrolmentIdAsync(request.ProgrammeId, request.SchoolUrn, request.Staff.ExternalId)
                                 ?? throw new InvalidOperationException("An enrolment conflicted on its identity but could not be found.");
                        var applied = await ApplyInAsync(tx, id, new ContactDetailsChanged(request.Staff), ct);
                        effects += applied.Effects;
                        outcomes[i] = new EnrolOutcome(applied.Enrolment!, Created: false);
                    }

                    await tx.CommitAsync();
                }

                if (effects > 0)
                {
                    signal.Notify();
                }

                return outcomes;
            }
            catch (ConcurrentUpdateException) when (attempt < MaxConcurrencyRetries)
            {
            }
        }
    }

    /// <summary>
    /// Applies one event to one enrolment in its own transaction. The state is read and the decision
    /// made outside the write transaction; the transaction only appends the event and saves the state
    /// if its version is unchanged, so the single writer is held as briefly as possible. If another
    /// writer got there first the decision is made again on the fresh state; under persistent
    /// contention the whole step runs inside the transaction instead.
    /// </summary>
    /// <param name="known">The enrolment as the caller has just read it, to save a second read.</param>
    public async Task<ApplyOutcome> ApplyAsync(Guid enrolmentId, WorkflowEvent evt, CancellationToken ct, StoredEnrolment? known = null)
    {
        evt = Moments.Truncate(evt);
        for (var attempt = 1; attempt <= MaxConcurrencyRetries; attempt++)
        {
            var stored = attempt == 1 && known?.State.Id == enrolmentId ? known : await store.GetEnrolmentAsync(enrolmentId, ct);
            if (stored is null)
            {
                return new ApplyOutcome(ApplyStatus.NotFound, null);
            }

            var now = clock.GetUtcNow();
            var (decision, outcome) = await DecideAsync(stored, evt, now, ct);
            if (outcome is not null)
            {
                return outcome;
            }

            var saved = await store.SaveDecisionAsync(
                new DecisionWrite(EventKeys.For(evt), evt, decision!.State, stored.Version, decision.NextWakeAt, decision.Effects), now, ct);
            if (saved == SaveOutcome.VersionMoved)
            {
                continue;
            }

            outcome = saved == SaveOutcome.Duplicate
                ? new ApplyOutcome(ApplyStatus.Duplicate, stored)
                : new ApplyOutcome(ApplyStatus.Applied, new StoredEnrolment(decision.State, stored.Version + 1, decision.NextWakeAt),
                    Effects: decision.Effects.Count);
            NotifyIfEffects(outcome);
            return outcome;
        }

        ApplyOutcome locked;
        await using (var tx = await store.BeginAsync(ct))
        {
            locked = await ApplyInAsync(tx, enrolmentId, evt, ct);
            if (locked.Status == ApplyStatus.Applied)
            {
                await tx.CommitAsync();
            }
        }

        NotifyIfEffects(locked);
        return locked;
    }

    /// <summary>
    /// Applies one event inside a transaction the caller owns, so that it can be combined with other
    /// writes (a booking row, a whole attendance register). The caller commits, and calls
    /// <see cref="NotifyIfEffects"/> afterwards.
    /// </summary>
    public async Task<ApplyOutcome> ApplyInAsync(IStoreTransaction tx, Guid enrolmentId, WorkflowEvent evt, CancellationToken ct)
    {
        evt = Moments.Truncate(evt);
        var stored = await tx.GetEnrolmentAsync(enrolmentId);
        if (stored is null)
        {
            return new ApplyOutcome(ApplyStatus.NotFound, null);
        }

        var now = clock.GetUtcNow();
        var (decision, outcome) = await DecideAsync(stored, evt, now, ct);
        return outcome
               ?? await WriteAsync(tx, stored, evt, decision!, now)
               ?? throw new ConcurrentUpdateException(enrolmentId);
    }

    /// <summary>
    /// Starts applying many events to many enrolments in a transaction the caller owns, without a round
    /// trip per event: the enrolments have been read beforehand (<see cref="IStoreTransaction.GetEnrolmentsAsync"/>),
    /// each event is decided in memory on the state the events before it left, as <see cref="ApplyInAsync"/>
    /// would decide them one by one, and <see cref="EnrolmentFold.SaveAsync"/> writes everything at the end.
    /// </summary>
    /// <param name="storedKeys">Which of the events are already stored (by enrolment and event key): they are duplicates, as in <see cref="ApplyInAsync"/>.</param>
    public EnrolmentFold Fold(IEnumerable<StoredEnrolment> enrolments, IReadOnlySet<(Guid EnrolmentId, string Key)> storedKeys, DateTimeOffset now) =>
        new(this, enrolments, storedKeys, now);

    /// <summary>The decision, or the outcome when there is nothing to write (refused, or no change).</summary>
    internal async Task<(Decision? Decision, ApplyOutcome? Outcome)> DecideAsync(
        StoredEnrolment stored, WorkflowEvent evt, DateTimeOffset now, CancellationToken ct)
    {
        var programme = await programmes.GetVersionAsync(stored.State.ProgrammeId, stored.State.ProgrammeVersion, ct);
        var decision = EnrolmentDecider.Decide(stored.State, evt, programme.Definition, now);
        if (decision.Rejection is { } rejection)
        {
            return (null, new ApplyOutcome(ApplyStatus.Rejected, stored, rejection));
        }

        if (!decision.Changed && decision.Effects.Count == 0 && decision.NextWakeAt == stored.NextWakeAt)
        {
            return (null, new ApplyOutcome(ApplyStatus.Unchanged, stored));
        }

        return (decision, null);
    }

    /// <summary>
    /// Writes the event, the state (if still at the version decided on) and the effects; null when
    /// the version has moved on. An event whose key is already stored writes nothing.
    /// </summary>
    private static async Task<ApplyOutcome?> WriteAsync(IStoreTransaction tx, StoredEnrolment stored, WorkflowEvent evt, Decision decision, DateTimeOffset now)
    {
        var id = stored.State.Id;
        if (!await tx.AppendEventAsync(id, EventKeys.For(evt), evt, now))
        {
            return new ApplyOutcome(ApplyStatus.Duplicate, stored);
        }

        if (!await tx.UpdateEnrolmentAsync(decision.State, stored.Version, decision.NextWakeAt, now))
        {
            return null;
        }

        await tx.EnqueueEffectsAsync(id, decision.Effects, now);
        return new ApplyOutcome(ApplyStatus.Applied, new StoredEnrolment(decision.State, stored.Version + 1, decision.NextWakeAt),
            Effects: decision.Effects.Count);
    }

    public void NotifyIfEffects(ApplyOutcome outcome) => NotifyIfEffects(outcome.Effects);

    public void NotifyIfEffects(int effects)
    {
        if (effects > 0)
        {
            signal.Notify();
        }
    }

    /// <summary>
    /// Fires the enrolment timers that are due, up to <paramref name="batchSize"/>, and returns how
    /// many changed their enrolment. The batch is read in one query, decided in memory, and saved in
    /// one transaction, each decision checked against the version it was made on, so a timer made
    /// stale by another writer (a progress event, another instance's sweep) writes nothing: that
    /// enrolment's next wake is the other writer's to decide, and a wake still due is taken by the
    /// next batch. One enrolment that cannot be processed holds up no other: it is logged and looked
    /// at again after <see cref="StuckTimerRetry"/>; if the batch cannot be read or saved as a whole,
    /// its enrolments are fired one at a time instead, so only the bad one is set aside. A timer
    /// always moves its enrolment's next wake past now (a property the decider tests hold it to); one
    /// that did not is treated as stuck too.
    /// </summary>
    /// <param name="lease">How long the batch is reserved for this instance when several share the store.</param>
    public async Task<int> FireDueTimersAsync(int batchSize, CancellationToken ct, TimeSpan? lease = null)
    {
        var now = Moments.Truncate(clock.GetUtcNow());
        var due = await store.DueEnrolmentsAsync(now, batchSize, now + (lease ?? DefaultTimerLease), ct);
        if (due.Count == 0)
        {
            return 0;
        }

        IReadOnlyList<StoredEnrolment> enrolments;
        try
        {
            enrolments = await store.GetEnrolmentsAsync(due, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "A batch of {Count} due timers could not be read together; they are fired one at a time.", due.Count);
            return await FireOneByOneAsync(due, now, ct);
        }

        var stuck = new List<Guid>();
        var writes = new List<DecisionWrite>(enrolments.Count);
        var decidedOn = new List<StoredEnrolment>(enrolments.Count);
        foreach (var stored in enrolments)
        {
            ct.ThrowIfCancellationRequested();
            var id = stored.State.Id;
            if (stored.NextWakeAt is not { } wakeAt || wakeAt > now)
            {
                continue; // saved by another writer since it was found due
            }

            try
            {
                var evt = new TimerFired(wakeAt, stored.Version);
                var (decision, outcome) = await DecideAsync(stored, evt, now, ct);
                if (decision is null)
                {
                    await SetAsideUnlessSavedSinceAsync(stored, outcome!.Status.ToString());
                    continue;
                }

                writes.Add(new DecisionWrite(EventKeys.For(evt), evt, decision.State, stored.Version, decision.NextWakeAt, decision.Effects));
                decidedOn.Add(stored);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                logger.LogError(e, "The timer of enrolment {EnrolmentId} could not be processed; it will be looked at again later.", id);
                stuck.Add(id);
            }
        }

        var fired = 0;
        var effects = 0;
        ct.ThrowIfCancellationRequested();
        IReadOnlyList<SaveOutcome> saved;
        try
        {
            saved = await store.SaveDecisionsAsync(writes, now, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "A batch of {Count} timer decisions could not be saved together; they are fired one at a time.", writes.Count);
            fired = await FireOneByOneAsync(writes.Select(w => w.State.Id).ToList(), now, ct);
            await DeferAsync(stuck, now);
            return fired;
        }

        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            var id = write.State.Id;
            switch (saved[i])
            {
                case SaveOutcome.Saved when write.NextWakeAt is null || write.NextWakeAt > now:
                    fired++;
                    effects += write.Effects.Count;
                    break;
                case SaveOutcome.Saved:
                    effects += write.Effects.Count;
                    logger.LogError("The timer of enrolment {EnrolmentId} due at {WakeAt:O} left it due; it will be looked at again later.",
                        id, decidedOn[i].NextWakeAt);
                    stuck.Add(id);
                    break;
                case SaveOutcome.VersionMoved:
                    break; // lost a race, not stuck (see above)
                default:
                    await SetAsideUnlessSavedSinceAsync(decidedOn[i], saved[i].ToString());
                    break;
            }
        }

        if (effects > 0)
        {
            signal.Notify();
        }

        await DeferAsync(stuck, now);
        return fired;

        // A timer that changed nothing, or whose event is already stored, is stuck, unless another
        // writer (another instance firing the same timer) saved the enrolment after it was read.
        async Task SetAsideUnlessSavedSinceAsync(StoredEnrolment read, string why)
        {
            if (await store.GetEnrolmentAsync(read.State.Id, ct) is { } latest && latest.Version != read.Version)
            {
                return;
            }

            logger.LogError("The timer of enrolment {EnrolmentId} due at {WakeAt:O} left it due ({Status}); it will be looked at again later.",
                read.State.Id, read.NextWakeAt, why);
            stuck.Add(read.State.Id);
        }
    }

    /// <summary>The due timers of these enrolments, each fired on its own, a few at a time (concurrent writes share commits).</summary>
    private async Task<int> FireOneByOneAsync(IReadOnlyList<Guid> due, DateTimeOffset now, CancellationToken ct)
    {
        var fired = 0;
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (id, token) =>
        {
            try
            {
                var stored = await store.GetEnrolmentAsync(id, token);
                if (stored?.NextWakeAt is not { } wakeAt || wakeAt > now)
                {
                    return;
                }

                var outcome = await ApplyAsync(id, new TimerFired(wakeAt, stored.Version), token, stored);
                if (outcome.Status == ApplyStatus.Applied && (outcome.Enrolment?.NextWakeAt is null || outcome.Enrolment.NextWakeAt > now))
                {
                    Interlocked.Increment(ref fired);
                    return;
                }

                // Lost a race, not stuck: another writer saved the enrolment after it was read.
                if (outcome.Status != ApplyStatus.Applied && await store.GetEnrolmentAsync(id, token) is { } latest && latest.Version != stored.Version)
                {
                    return;
                }

                logger.LogError("The timer of enrolment {EnrolmentId} due at {WakeAt:O} left it due ({Status}); it will be looked at again later.",
                    id, wakeAt, outcome.Status);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                logger.LogError(e, "The timer of enrolment {EnrolmentId} could not be processed; it will be looked at again later.", id);
            }

            await DeferAsync([id], now);
        });

        return fired;
    }

    /// <summary>Moves the next wake of enrolments whose timer could not be processed to <see cref="StuckTimerRetry"/> from now, in one transaction.</summary>
    private async Task DeferAsync(IReadOnlyCollection<Guid> stuck, DateTimeOffset now)
    {
        if (stuck.Count == 0)
        {
            return;
        }

        await using var tx = await store.BeginAsync(CancellationToken.None);
        foreach (var id in stuck)
        {
            await tx.DeferWakeAsync(id, now + StuckTimerRetry);
        }

        await tx.CommitAsync();
    }

    /// <summary>How long an enrolment whose timer could not be processed waits before the next try.</summary>
    public static readonly TimeSpan StuckTimerRetry = TimeSpan.FromMinutes(5);

    /// <summary>How long a claimed batch of due timers is reserved, unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultTimerLease = TimeSpan.FromMinutes(5);
}

/// <summary>Another writer changed the enrolment between our read and our write; the operation is retried.</summary>
public sealed class ConcurrentUpdateException(Guid enrolmentId)
    : Exception($"Enrolment {enrolmentId} was changed concurrently.");

/// <summary>
/// Events for many enrolments applied in memory, in order, inside one transaction (<see cref="EnrolmentWorkflow.Fold"/>):
/// each is decided on the state the ones before it left; the events, the final states and the effects
/// are written together by <see cref="SaveAsync"/>.
/// </summary>
public sealed class EnrolmentFold
{
    private readonly EnrolmentWorkflow _workflow;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<Guid, StoredEnrolment> _current = [];
    private readonly HashSet<(Guid EnrolmentId, string Key)> _keys;
    // The version and status each changed enrolment was read at, in the order they first changed.
    private readonly Dictionary<Guid, (long Version, EnrolmentStatus Status)> _readAt = [];
    private readonly List<Guid> _changed = [];
    private readonly List<AppendedEvent> _events = [];
    private readonly List<(Guid? EnrolmentId, Effect Effect)> _effects = [];

    internal EnrolmentFold(EnrolmentWorkflow workflow, IEnumerable<StoredEnrolment> enrolments, IReadOnlySet<(Guid EnrolmentId, string Key)> storedKeys,
        DateTimeOffset now)
    {
        _workflow = workflow;
        _now = now;
        foreach (var enrolment in enrolments)
        {
            _current[enrolment.State.Id] = enrolment;
        }

        _keys = [.. storedKeys];
    }

    /// <summary>Effects decided so far.</summary>
    public int Effects => _effects.Count;

    /// <summary>Decides the event on the enrolment as the events before it left it; nothing is written until <see cref="SaveAsync"/>.</summary>
    public async Task<ApplyOutcome> ApplyAsync(Guid enrolmentId, WorkflowEvent evt, CancellationToken ct)
    {
        evt = Moments.Truncate(evt);
        if (!_current.TryGetValue(enrolmentId, out var stored))
        {
            return new ApplyOutcome(ApplyStatus.NotFound, null);
        }

        var (decision, outcome) = await _workflow.DecideAsync(stored, evt, _now, ct);
        if (outcome is not null)
        {
            return outcome;
        }

        var key = EventKeys.For(evt);
        if (!_keys.Add((enrolmentId, key)))
        {
            return new ApplyOutcome(ApplyStatus.Duplicate, stored);
        }

        if (_readAt.TryAdd(enrolmentId, (stored.Version, stored.State.Status)))
        {
            _changed.Add(enrolmentId);
        }

        var applied = new StoredEnrolment(decision!.State, stored.Version + 1, decision.NextWakeAt);
        _current[enrolmentId] = applied;
        _events.Add(new AppendedEvent(enrolmentId, key, evt));
        foreach (var effect in decision.Effects)
        {
            _effects.Add((enrolmentId, effect));
        }

        return new ApplyOutcome(ApplyStatus.Applied, applied, Effects: decision.Effects.Count);
    }

    /// <summary>Writes what was applied; if another writer saved one of the enrolments since it was read, nothing may be kept.</summary>
    /// <exception cref="ConcurrentUpdateException">A version moved: roll the transaction back and start again.</exception>
    public async Task SaveAsync(IStoreTransaction tx)
    {
        var states = _changed.Select(id => (Id: id, Now: _current[id]))
            .Select(c => new StateWrite(c.Now.State, _readAt[c.Id].Version, c.Now.Version, c.Now.NextWakeAt, _readAt[c.Id].Status)).ToList();
        var batch = new DecisionBatch(states, _events, _effects);
        if (batch.IsEmpty)
        {
            return;
        }

        if (!await tx.SaveDecisionsAsync(batch, _now))
        {
            throw new ConcurrentUpdateException(_changed[0]);
        }
    }
}
