using System.Collections.Concurrent;
using System.Reflection;
using SendWorkflows.Storage;

namespace SendWorkflows.Tests.TestSupport;

/// <summary>
/// The real store, seen through a proxy that records which of its methods were called, and that can
/// answer one of them differently to stage a race another worker would cause.
/// </summary>
public class RecordingStore : DispatchProxy
{
    private IWorkflowStore _inner = null!;
    private Func<MethodInfo, object?[]?, object?>? _override;

    public ConcurrentQueue<string> Calls { get; } = new();

    /// <param name="override">Called for every method; a non-null answer is returned instead of the real store's.</param>
    public static (IWorkflowStore Store, RecordingStore Recorder) Wrap(IWorkflowStore inner, Func<MethodInfo, object?[]?, object?>? @override = null)
    {
        var store = Create<IWorkflowStore, RecordingStore>();
        var recorder = (RecordingStore)(object)store;
        recorder._inner = inner;
        recorder._override = @override;
        return (store, recorder);
    }

    public string[] TakeCalls()
    {
        var calls = new List<string>();
        while (Calls.TryDequeue(out var call))
        {
            calls.Add(call);
        }

        return calls.ToArray();
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        Calls.Enqueue(targetMethod.Name);
        if (_override?.Invoke(targetMethod, args) is { } answer)
        {
            return answer;
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
