using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using SendWorkflows.Http;
using SendWorkflows.Storage;

namespace SendWorkflows.Programmes;

/// <summary>
/// Programme versions, cached. A stored version never changes, so it is cached for good; which
/// version is current is cached briefly, so another instance's publication is seen within seconds.
/// </summary>
public sealed class ProgrammeCatalogue(IWorkflowStore store, TimeProvider clock)
{
    public const string DefaultProgrammeId = "send-inclusion-core";
    private static readonly TimeSpan CurrentVersionCacheTime = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<(string Id, int Version), ProgrammeVersion> _versions = new();
    private readonly ConcurrentDictionary<string, (ProgrammeVersion Programme, DateTimeOffset Until)> _current = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _publishLock = new(1, 1);

    public async Task<ProgrammeVersion?> GetCurrentAsync(string id, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (_current.TryGetValue(id, out var cached) && cached.Until > now)
        {
            return cached.Programme;
        }

        var stored = await store.GetProgrammeAsync(id, null, ct);
        if (stored is null)
        {
            return null;
        }

        var programme = _versions.GetOrAdd((stored.Id, stored.Version), _ => Load(stored));
        _current[id] = (programme, now + CurrentVersionCacheTime);
        return programme;
    }

    public async Task<ProgrammeVersion> GetVersionAsync(string id, int version, CancellationToken ct)
    {
        if (_versions.TryGetValue((id, version), out var cached))
        {
            return cached;
        }

        var stored = await store.GetProgrammeAsync(id, version, ct)
                     ?? throw new InvalidOperationException($"Programme {id} version {version} is referenced but not stored.");
        return _versions.GetOrAdd((id, version), _ => Load(stored));
    }

    /// <summary>
    /// Stores the document as a new version, unless it is the same as the current version, in which
    /// case the current version is returned (a repeated PUT changes nothing).
    /// </summary>
    public async Task<(ProgrammeVersion Programme, bool Created)> PublishAsync(ProgrammeDefinition definition, ProgrammeDocument document, CancellationToken ct)
    {
        var json = JsonSerializer.Serialize(document, ProgrammeDocument.SerializerOptions);
        await _publishLock.WaitAsync(ct);
        try
        {
            _current.TryRemove(definition.Id, out _);
            var current = await GetCurrentAsync(definition.Id, ct);
            if (current is not null && current.DocumentJson == json)
            {
                return (current, false);
            }

            var now = clock.GetUtcNow();
            int version;
            await using (var tx = await store.BeginAsync(ct))
            {
                version = await tx.InsertProgrammeVersionAsync(definition.Id, json, now);
                await tx.CommitAsync();
            }

            var programme = new ProgrammeVersion(definition, version, now, json);
            _versions[(definition.Id, version)] = programme;
            _current[definition.Id] = (programme, now + CurrentVersionCacheTime);
            return (programme, true);
        }
        finally
        {
            _publishLock.Release();
        }
    }

    /// <summary>Loads the bundled SEND and inclusion programme on first start.</summary>
    public async Task EnsureDefaultProgrammeAsync(CancellationToken ct)
    {
        if (await store.GetProgrammeAsync(DefaultProgrammeId, null, ct) is not null)
        {
            return;
        }

        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"programmes/{DefaultProgrammeId}.json")!;
        var document = JsonSerializer.Deserialize<ProgrammeDocument>(stream, ProgrammeDocument.SerializerOptions)!;
        var errors = new FieldErrors();
        var definition = document.Validate(DefaultProgrammeId, errors)
                         ?? throw new InvalidOperationException($"The bundled programme is invalid: {errors.Summary()}");
        await PublishAsync(definition, document, ct);
    }

    private static ProgrammeVersion Load(StoredProgramme stored)
    {
        var document = JsonSerializer.Deserialize<ProgrammeDocument>(stored.Document, ProgrammeDocument.SerializerOptions)!;
        var errors = new FieldErrors();
        var definition = document.Validate(stored.Id, errors, sensibleReminders: false)
                         ?? throw new InvalidOperationException($"Stored programme {stored.Id} v{stored.Version} no longer validates: {errors.Summary()}");
        return new ProgrammeVersion(definition, stored.Version, stored.CreatedAt, stored.Document);
    }
}
