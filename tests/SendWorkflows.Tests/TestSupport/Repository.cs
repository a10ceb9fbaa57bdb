namespace SendWorkflows.Tests.TestSupport;

/// <summary>Files of the repository itself (host.json, infra/), found from wherever the tests run.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "SendWorkflows.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The tests are not running inside the repository.");
    }

    /// <summary>A loopback port nothing is listening on.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
