using SendWorkflows.Hosting;
using SendWorkflows.Storage;

// Settings are read once, at start. Watching them for changes would watch the whole content root, which
// is the working folder with ./data in it: every SQLite journal write and outbox email would wake the
// watcher. A setting given later on the command line still wins.
var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. args]);
try
{
    builder.AddSendWorkflows();
}
catch (UnsafeProductionConfigurationException refused)
{
    // One clear line per problem, and a failing exit code, instead of a stack trace.
    await Console.Error.WriteLineAsync(refused.Message);
    Environment.ExitCode = 78; // EX_CONFIG
    return;
}

var app = builder.Build();

if (args.Length > 0 && args[0] == "migrate")
{
    // `dotnet run --project src/SendWorkflows -- migrate`: apply migrations and exit.
    await app.Services.GetRequiredService<IWorkflowStore>().MigrateAsync(CancellationToken.None);
    Console.WriteLine("Migrations applied.");
    return;
}

// Migrations, the bundled programme and the first admin key run while the pipeline is built and the
// host binds its port; it answers its first request, and reports itself started, once they are done.
app.InitialiseWhileStarting();
app.UseSendWorkflows();
try
{
    await app.StartAsync();
}
catch
{
    // The host did not start (a setting refused, the port taken, or start-up's work failed). That work
    // may still be running: let it end before the services it uses are disposed, so the error that
    // stops the process is the one that made the start fail.
    await app.Services.GetRequiredService<StartUpGate>().Ready.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    await app.DisposeAsync();
    throw;
}

await app.WaitForShutdownAsync();
await app.DisposeAsync();

/// <summary>The entry point, visible to the integration tests' WebApplicationFactory.</summary>
public partial class Program;
