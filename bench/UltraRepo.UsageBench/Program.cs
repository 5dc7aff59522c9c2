using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>UltraRepo.UsageBench &lt;store|ingest|dashboards|freshness|close&gt; [--option value]…</c>: load tests of the
/// usage pipeline and billing, each printing a markdown table (stdout) and progress (stderr).
/// Global options: <c>--sql-log</c> (EF Core logs each command with its duration), <c>--keep-database</c>
/// (leave the databases in place for psql).
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Func<string[], Task>> Commands = new(StringComparer.Ordinal)
    {
        ["store"] = StoreBench.RunAsync,
        ["ingest"] = IngestBench.RunAsync,
        ["dashboards"] = DashboardsBench.RunAsync,
        ["freshness"] = FreshnessBench.RunAsync,
        ["close"] = CloseBench.RunAsync,
    };

    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || !Commands.TryGetValue(args[0], out var run))
        {
            Console.Error.WriteLine($"usage: UltraRepo.UsageBench <{string.Join('|', Commands.Keys)}> [--option value]...  (see bench/usage-load.sh)");
            return 2;
        }

        BenchHost.Options.SqlLog = args.Contains("--sql-log");
        BenchDatabase.Keep = args.Contains("--keep-database");
        try
        {
            await run([.. args.Where(a => a is not ("--sql-log" or "--keep-database"))]);
            return 0;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{args[0]}: {e.Message}");
            return 2;
        }
    }
}
