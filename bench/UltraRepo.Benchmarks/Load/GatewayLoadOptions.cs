using System.Globalization;

namespace UltraRepo.Benchmarks.Load;

/// <summary>Settings of one <c>gateway-load</c> run.</summary>
internal sealed record GatewayLoadOptions
{
    public const string Usage = "gateway-load [--seconds 15] [--rate 1000] [--warmup 3] [--throughput-seconds 10] [--workers 32] "
        + "[--only json-1k,json-32k,sse-1k,sse-32k] [--bare-proxy] [--timelines folder] [--host-dll path] "
        + "[--gateway-env NAME=value]... [--gateway-switch runtimeconfig.property=value]...";

    /// <summary>Length of each constant-rate measurement.</summary>
    public int Seconds { get; init; } = 15;

    public int Rate { get; init; } = 1000;

    /// <summary>Warm-up before the first measurement (per path) and before each constant-rate measurement.</summary>
    public int WarmupSeconds { get; init; } = 3;

    public int ThroughputSeconds { get; init; } = 10;

    /// <summary>Concurrent workers of the closed-loop (maximum throughput) runs.</summary>
    public int Workers { get; init; } = 32;

    /// <summary>Also measure a bare forwarding proxy (<see cref="BareProxy"/>) as a reference.</summary>
    public bool BareProxy { get; init; }

    public string? HostDll { get; init; }

    public IReadOnlyList<LoadScenario> Scenarios { get; init; } = LoadScenario.All;

    /// <summary>Where to write each constant-rate run's per-request latencies (CSV), if anywhere.</summary>
    public string? TimelineFolder { get; init; }

    public Dictionary<string, string> GatewayEnvironment { get; init; } = [];

    public Dictionary<string, string> GatewaySwitches { get; init; } = [];

    public static GatewayLoadOptions Parse(IReadOnlyList<string> args)
    {
        var options = new GatewayLoadOptions();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--bare-proxy")
            {
                options = options with { BareProxy = true };
                continue;
            }

            var value = i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value; usage: {Usage}");
            options = args[i - 1] switch
            {
                "--seconds" => options with { Seconds = Int(value) },
                "--rate" => options with { Rate = Int(value) },
                "--warmup" => options with { WarmupSeconds = Int(value) },
                "--throughput-seconds" => options with { ThroughputSeconds = Int(value) },
                "--workers" => options with { Workers = Int(value) },
                "--host-dll" => options with { HostDll = value },
                "--timelines" => options with { TimelineFolder = value },
                "--only" => options with { Scenarios = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(LoadScenario.Parse).ToList() },
                "--gateway-env" => options with { GatewayEnvironment = With(options.GatewayEnvironment, value) },
                "--gateway-switch" => options with { GatewaySwitches = With(options.GatewaySwitches, value) },
                var unknown => throw new ArgumentException($"unknown option {unknown}; usage: {Usage}"),
            };
        }

        return options;
    }

    private static int Int(string value) => int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);

    private static Dictionary<string, string> With(Dictionary<string, string> settings, string assignment)
    {
        var eq = assignment.IndexOf('=', StringComparison.Ordinal);
        return eq > 0 ? new(settings) { [assignment[..eq]] = assignment[(eq + 1)..] } : throw new ArgumentException($"expected NAME=value, got {assignment}");
    }
}

/// <summary>One combination of result size and response transport.</summary>
internal sealed record LoadScenario(int Size, bool Sse)
{
    public static readonly IReadOnlyList<LoadScenario> All = [new(1024, false), new(32 * 1024, false), new(1024, true), new(32 * 1024, true)];

    public string Label => $"{(Sse ? "SSE" : "JSON")} {Size / 1024} KB";

    public string Key => $"{(Sse ? "sse" : "json")}-{Size / 1024}k";

    public static LoadScenario Parse(string key) => All.FirstOrDefault(s => s.Key == key)
        ?? throw new ArgumentException($"unknown scenario {key}; one of {string.Join(", ", All.Select(s => s.Key))}");
}

/// <summary>How a request reaches the upstream.</summary>
internal enum LoadPath
{
    Direct,
    Gateway,
    BareProxy,
}
