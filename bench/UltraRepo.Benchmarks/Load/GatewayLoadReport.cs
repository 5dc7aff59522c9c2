using System.Runtime.InteropServices;
using System.Text;

namespace UltraRepo.Benchmarks.Load;

/// <summary>The markdown the <c>gateway-load</c> command prints, ready for docs/benchmarks.md.</summary>
internal static class GatewayLoadReport
{
    private const double GoalAddedP50Ms = 0.5;
    private const double GoalAddedP99Ms = 2.0;
    private const double GoalThroughputRatio = 0.60;

    public static string Markdown(GatewayLoadOptions options, string command, List<ScenarioResult> results, PrometheusHistograms whole)
    {
        var md = new StringBuilder();
        var at = $"{options.Rate:N0} req/s";
        var bare = options.BareProxy;
        md.AppendLine($"### Gateway overhead: tools/call direct vs through the gateway ({DateTime.UtcNow:yyyy-MM-dd})");
        md.AppendLine();
        md.AppendLine($"Machine: {Environment.ProcessorCount} cores ({CpuModel()}), {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}. "
            + "The load driver, the upstream (in the driver's process) and the gateway (its own process: the Release host on SQLite, server GC) all share "
            + $"these {Environment.ProcessorCount} cores, so a request through the gateway also pays for the CPU the gateway takes away from the driver and the upstream.");
        md.AppendLine();
        md.AppendLine("Upstream: a minimal Kestrel MCP endpoint answering each tools/call with one text block of English prose (1 KB or 32 KB), as `application/json` "
            + "or as one SSE `message` event (chunked). Each listing has graduated usage pricing and the consumer is subscribed, so every gateway request is "
            + "authenticated, rate-limited, entitlement-checked, reserved, token-counted (o200k_base) both ways, settled and recorded as a usage event.");
        if (options.GatewayEnvironment.Count + options.GatewaySwitches.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Gateway settings changed for this run: "
                + string.Join(", ", options.GatewayEnvironment.Concat(options.GatewaySwitches).Select(kv => $"`{kv.Key}={kv.Value}`")) + ".");
        }

        var others = results.SelectMany(r => r.OtherLoad.Values).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).ToList();
        md.AppendLine();
        md.AppendLine($"Other processes on the machine used {others.Average():0.00} cores on average during the measurements (at most {others.Max():0.00}); "
            + "per measurement in the throughput and distribution tables. The benchmark assumes an otherwise idle machine; more than a few hundredths of a core distorts it.");
        md.AppendLine();
        md.AppendLine($"**Latency**: open loop at a constant {at} for {options.Seconds} s per cell (after {options.WarmupSeconds} s of warm-up), measured from each request's "
            + "scheduled send time to the last byte of its response (coordinated-omission-correct), HTTP/1.1 keep-alive pool, exact percentiles over all samples. "
            + "Added = gateway percentile − direct percentile.");
        md.AppendLine();
        md.AppendLine($"| Result | Direct p50 | Direct p99 | Gateway p50 | Gateway p99 | Added p50 (goal ≤ {GoalAddedP50Ms} ms) | Added p99 (goal ≤ {GoalAddedP99Ms:0} ms) | Errors |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var (direct, gateway) = (r.Latency[LoadPath.Direct].Latency, r.Latency[LoadPath.Gateway].Latency);
            var addedP50 = gateway.P50 - direct.P50;
            var addedP99 = gateway.P99 - direct.P99;
            md.AppendLine($"| {r.Scenario.Label} | {Ms(direct.P50)} | {Ms(direct.P99)} | {Ms(gateway.P50)} | {Ms(gateway.P99)} "
                + $"| **{Ms(addedP50)}** {Verdict(addedP50 <= GoalAddedP50Ms)} | **{Ms(addedP99)}** {Verdict(addedP99 <= GoalAddedP99Ms)} "
                + $"| {r.Latency[LoadPath.Direct].Errors} / {r.Latency[LoadPath.Gateway].Errors} |");
        }

        md.AppendLine();
        md.AppendLine($"**Maximum throughput**: closed loop, {options.Workers} concurrent workers, {options.ThroughputSeconds} s per cell.");
        md.AppendLine();
        md.AppendLine($"| Result | Direct req/s | Gateway req/s | Gateway / direct (goal ≥ {GoalThroughputRatio:P0}) | Direct p50 / p99 at max (ms) | Gateway p50 / p99 at max (ms) | Errors | Other processes (cores) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var (direct, gateway) = (r.Max[LoadPath.Direct], r.Max[LoadPath.Gateway]);
            var ratio = gateway.RequestsPerSecond / direct.RequestsPerSecond;
            md.AppendLine($"| {r.Scenario.Label} | {direct.RequestsPerSecond:N0} | {gateway.RequestsPerSecond:N0} | **{ratio:P0}** {Verdict(ratio >= GoalThroughputRatio)} "
                + $"| {Ms(direct.Latency.P50)} / {Ms(direct.Latency.P99)} | {Ms(gateway.Latency.P50)} / {Ms(gateway.Latency.P99)} | {direct.Errors} / {gateway.Errors} "
                + $"| {r.OtherLoad[(LoadPath.Direct, true)]:0.00} / {r.OtherLoad[(LoadPath.Gateway, true)]:0.00} |");
        }

        md.AppendLine();
        md.AppendLine("CPU time per request during the maximum-throughput runs (µs, user + system, from the processes' own accounting):");
        md.AppendLine();
        md.AppendLine("| Result | Direct: driver + upstream | Via gateway: driver + upstream | Via gateway: gateway process |"
            + (bare ? " Via bare proxy: driver + upstream | Via bare proxy: proxy process |" : ""));
        md.AppendLine("|---|---:|---:|---:|" + (bare ? "---:|---:|" : ""));
        foreach (var r in results)
        {
            md.AppendLine($"| {r.Scenario.Label} | {Us(r.CpuPerRequest[LoadPath.Direct].Own)} | {Us(r.CpuPerRequest[LoadPath.Gateway].Own)} | **{Us(r.CpuPerRequest[LoadPath.Gateway].Proxy)}** |"
                + (bare ? $" {Us(r.CpuPerRequest[LoadPath.BareProxy].Own)} | {Us(r.CpuPerRequest[LoadPath.BareProxy].Proxy)} |" : ""));
        }

        if (bare)
        {
            md.AppendLine();
            md.AppendLine("Reference: a bare forwarding proxy (Kestrel + one pooled HttpClient, no routing, auth or metering; its own process, server GC), "
                + "the cost of the extra hop alone on this machine:");
            md.AppendLine();
            md.AppendLine("| Result | Bare proxy added p50 / p99 (ms) | Gateway added p50 / p99 (ms) | Bare proxy req/s | Bare / direct | Gateway / bare |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var r in results)
            {
                var direct = r.Latency[LoadPath.Direct].Latency;
                var proxy = r.Latency[LoadPath.BareProxy].Latency;
                var gateway = r.Latency[LoadPath.Gateway].Latency;
                var bareMax = r.Max[LoadPath.BareProxy].RequestsPerSecond;
                md.AppendLine($"| {r.Scenario.Label} | {Ms(proxy.P50 - direct.P50)} / {Ms(proxy.P99 - direct.P99)} | {Ms(gateway.P50 - direct.P50)} / {Ms(gateway.P99 - direct.P99)} "
                    + $"| {bareMax:N0} | {bareMax / r.Max[LoadPath.Direct].RequestsPerSecond:P0} | {r.Max[LoadPath.Gateway].RequestsPerSecond / bareMax:P0} |");
            }
        }

        md.AppendLine();
        md.AppendLine($"Full distributions at {at} (ms; driver lag = how late the driver sent, already included in the latencies):");
        md.AppendLine();
        md.AppendLine("| Result | Path | Requests | Achieved req/s | Mean | p50 | p90 | p99 | p99.9 | Max | Driver lag p50 / p99 | Other processes (cores) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            foreach (var (path, run) in r.Latency)
            {
                var l = run.Latency;
                md.AppendLine($"| {r.Scenario.Label} | {path} | {run.Scheduled:N0} | {run.AchievedRate:N0} | {Ms(l.Mean)} | {Ms(l.P50)} | {Ms(l.P90)} | {Ms(l.P99)} | {Ms(l.P999)} | {Ms(l.Max)} "
                    + $"| {Ms(run.SchedulerLag.P50)} / {Ms(run.SchedulerLag.P99)} | {r.OtherLoad.GetValueOrDefault((path, false), double.NaN):0.00} |");
            }
        }

        md.AppendLine();
        md.AppendLine($"Cross-check with the gateway's own `/metrics` over the same constant-rate gateway runs. `{GatewayLoadCommand.OverheadMetric}` is the time "
            + "inside the metering step minus the upstream exchange, up to the end of forwarding: it leaves out everything before the step (Kestrel, authentication "
            + "middleware, routing), settlement and the usage-event append after it, and any wait for the connection; quantiles are bucket estimates.");
        md.AppendLine();
        md.AppendLine($"| Result | Requests | `{GatewayLoadCommand.OverheadMetric}` mean | est. p50 | est. p99 | `{GatewayLoadCommand.DurationMetric}` mean | Client-measured added mean |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var o = r.Overhead;
            md.AppendLine($"| {r.Scenario.Label} | {o?.Count ?? 0:N0} | {Ms(o?.MeanMs)} | {Ms(o?.QuantileMs(0.5))} | {Ms(o?.QuantileMs(0.99))} | {Ms(r.Duration?.MeanMs)} "
                + $"| {Ms(r.Latency[LoadPath.Gateway].Latency.Mean - r.Latency[LoadPath.Direct].Latency.Mean)} |");
        }

        md.AppendLine();
        md.AppendLine($"Whole run (every phase, warm-ups and maximum-throughput runs included), `{GatewayLoadCommand.OverheadMetric}`:");
        md.AppendLine();
        md.AppendLine("| Listing | Sum / count | Mean (ms) |");
        md.AppendLine("|---|---:|---:|");
        foreach (var r in results)
        {
            if (whole.Find(GatewayLoadCommand.OverheadMetric, r.Listing.ServerName) is { } s)
            {
                md.AppendLine($"| {r.Listing.ServerName} | {s.Sum:0.000} s / {s.Count:N0} | {Ms(s.MeanMs)} |");
            }
        }

        md.AppendLine();
        md.AppendLine("Command (after `dotnet build -c Release` of `src/UltraRepo.Host` and `bench/UltraRepo.Benchmarks`; `bench/gateway-load.sh` does all three):");
        md.AppendLine();
        md.AppendLine("```sh");
        md.AppendLine(command);
        md.AppendLine("```");
        return md.ToString();
    }

    public static string Ms(double? ms) => ms is { } v && !double.IsNaN(v) ? $"{v:0.000}" : "–";

    private static string Us(TimeSpan time) => $"{time.TotalMicroseconds:N0}";

    private static string Verdict(bool met) => met ? "✅" : "❌";

    private static string CpuModel()
    {
        const string cpuinfo = "/proc/cpuinfo";
        var model = File.Exists(cpuinfo) ? File.ReadLines(cpuinfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
        return model?[(model.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
    }
}
