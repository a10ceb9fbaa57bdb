namespace SendWorkflows.Benchmarks;

/// <summary>
/// The smallest ASP.NET Core app that answers <c>/healthz</c>: the reference for start-up time and
/// memory, since no service can start faster or hold less than the framework it runs on.
/// </summary>
public static class EmptyWebApp
{
    public const string Flag = "--empty-web-app";

    public static async Task RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args.Where(a => a != Flag).ToArray());
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/healthz", () => "ok");
        await app.RunAsync();
    }
}
