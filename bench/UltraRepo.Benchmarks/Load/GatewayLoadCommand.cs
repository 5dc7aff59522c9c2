using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace UltraRepo.Benchmarks.Load;

/// <summary>The measurements of one scenario, per path.</summary>
internal sealed class ScenarioResult(LoadScenario scenario, BenchListing listing)
{
    public LoadScenario Scenario { get; } = scenario;
    public BenchListing Listing { get; } = listing;
    public Dictionary<LoadPath, OpenLoopResult> Latency { get; } = [];
    public Dictionary<LoadPath, ClosedLoopResult> Max { get; } = [];

    /// <summary>CPU per request during the maximum-throughput runs: this process (driver and upstream), and the proxy's process.</summary>
    public Dictionary<LoadPath, (TimeSpan Own, TimeSpan Proxy)> CpuPerRequest { get; } = [];

    /// <summary>The gateway's own histograms over its constant-rate run.</summary>
    public HistogramSeries? Overhead { get; set; }
    public HistogramSeries? Duration { get; set; }

    /// <summary>Cores other processes on the machine used during each measurement.</summary>
    public Dictionary<(LoadPath Path, bool Max), double> OtherLoad { get; } = [];

    public int Errors => Latency.Values.Sum(r => r.Errors) + Max.Values.Sum(r => r.Errors);
}

/// <summary>
/// <c>gateway-load</c>: the gateway's added latency and throughput cost against calling the same upstream
/// directly, for tools/call results of 1 KB and 32 KB as JSON and as SSE, side by side in one run.
/// </summary>
internal static class GatewayLoadCommand
{
    public const string OverheadMetric = "mcp_gateway_overhead_seconds";
    public const string DurationMetric = "mcp_request_duration_seconds";
    private static readonly Uri Metrics = new("/metrics", UriKind.Relative);

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        if (args is [BareProxy.Command, var upstreamBase, var listen])
        {
            await BareProxy.RunAsync(new Uri(upstreamBase), new Uri(listen));
            return 0;
        }

        // Numbers in the report are written the same way wherever it runs.
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var options = GatewayLoadOptions.Parse(args);
        var hostDll = options.HostDll ?? FindHostDll();

        await using var upstream = await FakeMcpUpstream.StartAsync();
        Progress($"upstream: {upstream.BaseAddress} (in this process)");
        await using var gateway = await ServerProcess.StartGatewayAsync(hostDll, options.GatewayEnvironment, options.GatewaySwitches);
        Progress($"gateway:  {gateway.BaseAddress} (pid {gateway.ProcessId}, {hostDll}; log and database in {gateway.Folder})");
        await using var bare = options.BareProxy ? await ServerProcess.StartBareProxyAsync(upstream.BaseAddress) : null;
        if (bare is not null)
        {
            Progress($"bare proxy: {bare.BaseAddress} (pid {bare.ProcessId})");
        }

        var results = options.Scenarios.Select(s => new ScenarioResult(s, new BenchListing(
            $"com.ultrarepo.{MarketplaceSetup.PublisherHandle}/bench-{s.Key}", s.Sse ? upstream.SseUrl(s.Size) : upstream.JsonUrl(s.Size)))).ToList();
        var consumerKey = await MarketplaceSetup.PrepareAsync(gateway.BaseAddress, [.. results.Select(r => r.Listing)]);
        Progress($"published {results.Count} usage-priced listings, consumer subscribed, routes loaded");

        using var driver = new LoadDriver();
        var targets = new Dictionary<LoadScenario, Dictionary<LoadPath, McpTarget>>();
        foreach (var result in results)
        {
            var expected = upstream.ResponseFor(1, result.Scenario.Size, result.Scenario.Sse).Length;
            var paths = new Dictionary<LoadPath, McpTarget>
            {
                [LoadPath.Direct] = new(result.Listing.Upstream, null, expected),
                [LoadPath.Gateway] = new(new Uri(gateway.BaseAddress, result.Listing.GatewayPath), consumerKey, expected),
            };
            if (bare is not null)
            {
                paths[LoadPath.BareProxy] = new(new Uri(bare.BaseAddress, result.Listing.Upstream.PathAndQuery), null, expected);
            }

            await CheckSameResponseAsync(driver, paths, result.Scenario);
            targets[result.Scenario] = paths;
        }

        var warmup = TimeSpan.FromSeconds(options.WarmupSeconds);
        // JIT tiering of all processes, connection pools and the gateway's caches warmed on every path before the first measurement.
        foreach (var target in targets.Values.SelectMany(paths => paths.Values))
        {
            await driver.MaxThroughputAsync(target, 8, warmup);
        }

        using var self = Process.GetCurrentProcess();
        TimeSpan Ours() => CpuTime(self) + gateway.CpuTime + (bare?.CpuTime ?? TimeSpan.Zero);
        Progress($"warmed up ({options.WarmupSeconds} s per path, 8 workers)");
        using var scraper = new HttpClient { BaseAddress = gateway.BaseAddress };
        foreach (var result in results)
        {
            var paths = targets[result.Scenario];
            foreach (var target in paths.Values)
            {
                await driver.ConstantRateAsync(target, options.Rate, warmup);
            }

            foreach (var (path, target) in paths)
            {
                await gateway.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
                var before = path == LoadPath.Gateway ? await PrometheusHistograms.ScrapeAsync(scraper, Metrics) : null;
                var load = MachineLoad.Start(Ours);
                var run = result.Latency[path] = await driver.ConstantRateAsync(target, options.Rate, TimeSpan.FromSeconds(options.Seconds));
                result.OtherLoad[(path, false)] = load.OtherCores();
                if (before is not null)
                {
                    var after = await PrometheusHistograms.ScrapeAsync(scraper, Metrics);
                    result.Overhead = after.Find(OverheadMetric, result.Listing.ServerName)?.Since(before.Find(OverheadMetric, result.Listing.ServerName));
                    result.Duration = after.Find(DurationMetric, result.Listing.ServerName)?.Since(before.Find(DurationMetric, result.Listing.ServerName));
                }

                Progress($"{result.Scenario.Label,-10} {path,-9} {options.Rate}/s: {Describe(run)}, other processes {result.OtherLoad[(path, false)]:0.00} cores");
                if (options.TimelineFolder is { } folder)
                {
                    WriteTimeline(folder, $"{result.Scenario.Key}-{path}.csv".ToLowerInvariant(), run, options.Rate);
                }
            }
        }

        foreach (var result in results)
        {
            foreach (var (path, target) in targets[result.Scenario])
            {
                var proxy = path switch { LoadPath.Gateway => gateway, LoadPath.BareProxy => bare, _ => null };
                await driver.MaxThroughputAsync(target, options.Workers, TimeSpan.FromSeconds(Math.Min(2, options.WarmupSeconds)));
                await gateway.WaitUntilIdleAsync(TimeSpan.FromSeconds(30));
                var ownBefore = CpuTime(self);
                var proxyBefore = proxy?.CpuTime ?? TimeSpan.Zero;
                var load = MachineLoad.Start(Ours);
                var run = result.Max[path] = await driver.MaxThroughputAsync(target, options.Workers, TimeSpan.FromSeconds(options.ThroughputSeconds));
                result.OtherLoad[(path, true)] = load.OtherCores();
                var completed = Math.Max(1, run.Completed);
                result.CpuPerRequest[path] = ((CpuTime(self) - ownBefore) / completed, ((proxy?.CpuTime ?? TimeSpan.Zero) - proxyBefore) / completed);
                Progress($"{result.Scenario.Label,-10} {path,-9} max: {run.RequestsPerSecond:0} req/s ({run.Errors} errors), other processes {result.OtherLoad[(path, true)]:0.00} cores");
            }
        }

        var whole = await PrometheusHistograms.ScrapeAsync(scraper, Metrics);
        var command = "dotnet bench/UltraRepo.Benchmarks/bin/Release/net10.0/UltraRepo.Benchmarks.dll gateway-load " + string.Join(' ', args);
        Console.WriteLine();
        Console.WriteLine(GatewayLoadReport.Markdown(options, command.TrimEnd(), results, whole));
        Console.WriteLine($"Gateway log: {gateway.LogPath} ({gateway.ProblemLines()} warning or failure lines).");
        return results.Any(r => r.Errors > 0) ? 1 : 0;
    }

    /// <summary>Fails early unless every path answers 200 with the upstream's response (the same length, give or take the id).</summary>
    private static async Task CheckSameResponseAsync(LoadDriver driver, Dictionary<LoadPath, McpTarget> paths, LoadScenario scenario)
    {
        var direct = await driver.CallAsync(paths[LoadPath.Direct]);
        foreach (var (path, target) in paths)
        {
            var answer = await driver.CallAsync(target);
            if (direct.Status != HttpStatusCode.OK || answer.Status != HttpStatusCode.OK || Math.Abs(direct.Bytes - answer.Bytes) > 4)
            {
                throw new InvalidOperationException($"{scenario.Label}: direct answered {(int)direct.Status} with {direct.Bytes} bytes, {path} {(int)answer.Status} with {answer.Bytes} bytes");
            }
        }
    }

    /// <summary>One line per request: when it was scheduled (ms from the start of the run) and its latency (ms, empty for an error).</summary>
    private static void WriteTimeline(string folder, string file, OpenLoopResult run, int rate)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllLines(Path.Combine(folder, file),
            ["scheduled_ms,latency_ms", .. run.Timeline.Select((latency, i) => $"{i * 1000.0 / rate:0.###},{(double.IsNaN(latency) ? "" : latency.ToString("0.###"))}")]);
    }

    private static TimeSpan CpuTime(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }

    private static string Describe(OpenLoopResult run) =>
        $"p50 {GatewayLoadReport.Ms(run.Latency.P50)}  p99 {GatewayLoadReport.Ms(run.Latency.P99)}  p99.9 {GatewayLoadReport.Ms(run.Latency.P999)}  "
        + $"max {GatewayLoadReport.Ms(run.Latency.Max)} ms  ({run.AchievedRate:0} req/s, {run.Errors} errors, driver lag p99 {GatewayLoadReport.Ms(run.SchedulerLag.P99)} ms)";

    private static void Progress(string line) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");

    /// <summary>The Release build of the host, found from this benchmark's output folder up to the repository root.</summary>
    private static string FindHostDll()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "UltraRepo.slnx")))
            {
                var dll = Path.Combine(dir.FullName, "src", "UltraRepo.Host", "bin", "Release", "net10.0", "UltraRepo.Host.dll");
                return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the host first: dotnet build -c Release src/UltraRepo.Host ({dll} is missing)");
            }
        }

        throw new DirectoryNotFoundException($"cannot find the repository root (UltraRepo.slnx) above {AppContext.BaseDirectory}; pass --host-dll");
    }
}
