using System.Net;
using System.Net.Sockets;

namespace SendWorkflows.Benchmarks.Infrastructure;

/// <summary>A temporary folder for one benchmark run; everything a scenario makes goes under it and is deleted at the end.</summary>
public sealed class Workspace : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sendworkflows-bench-").FullName;

    public string Folder(string name) => Directory.CreateDirectory(Path.Combine(Root, name)).FullName;

    /// <summary>A loopback port nothing is listening on.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A server of ours still writing its last log line: the system's temp cleaning takes it.
        }
    }
}
