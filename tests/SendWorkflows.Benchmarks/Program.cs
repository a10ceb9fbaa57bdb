namespace SendWorkflows.Benchmarks;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args.Contains(EmptyWebApp.Flag))
        {
            await EmptyWebApp.RunAsync(args);
            return 0;
        }

        return await Bench.RunAsync(args, Console.Out);
    }
}
