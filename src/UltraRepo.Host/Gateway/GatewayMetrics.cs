using Prometheus;

namespace UltraRepo.Gateway;

/// <summary>The gateway's Prometheus series. Method labels are limited to MCP's own methods (others are "other").</summary>
public sealed class GatewayMetrics
{
    private static readonly HashSet<string> KnownMethods =
    [
        "initialize", "ping", "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list", "resources/read",
        "resources/templates/list", "resources/subscribe", "resources/unsubscribe", "completion/complete", "logging/setLevel",
        "notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed",
        "sampling/createMessage", "elicitation/create", "roots/list", "server/discover", "subscriptions/listen", "response", "stream",
    ];

    private readonly Counter _tokens = Metrics.CreateCounter("mcp_tokens_total", "Tokens metered through the gateway.", "server", "direction");
    private readonly Counter _requests = Metrics.CreateCounter("mcp_requests_total", "JSON-RPC exchanges through the gateway.", "server", "method", "outcome");
    private readonly Histogram _duration = Metrics.CreateHistogram("mcp_request_duration_seconds", "Time from request to the end of the response.",
        new HistogramConfiguration { LabelNames = ["server"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
    private readonly Histogram _overhead = Metrics.CreateHistogram("mcp_gateway_overhead_seconds", "Time the gateway itself spends on a request (auth, limits, counting), excluding the upstream.",
        new HistogramConfiguration { LabelNames = ["server"], Buckets = Histogram.ExponentialBuckets(0.00005, 2, 16) });
    private readonly Gauge _streams = Metrics.CreateGauge("mcp_active_streams", "Open SSE streams through the gateway.", "server");
    private readonly Counter _rejections = Metrics.CreateCounter("mcp_limit_rejections_total", "Requests refused by limits, budgets or rate limits.", "server", "reason");

    public void Tokens(string server, long input, long output)
    {
        if (input > 0)
        {
            _tokens.WithLabels(server, "input").Inc(input);
        }

        if (output > 0)
        {
            _tokens.WithLabels(server, "output").Inc(output);
        }
    }

    public void Request(string server, string method, string outcome) => _requests.WithLabels(server, Label(method), outcome).Inc();

    public void Duration(string server, TimeSpan total, TimeSpan overhead)
    {
        _duration.WithLabels(server).Observe(total.TotalSeconds);
        _overhead.WithLabels(server).Observe(overhead.TotalSeconds);
    }

    public IDisposable Stream(string server)
    {
        var gauge = _streams.WithLabels(server);
        gauge.Inc();
        return new Decrement(gauge);
    }

    public void Rejection(string server, string reason) => _rejections.WithLabels(server, reason).Inc();

    private static string Label(string method) => KnownMethods.Contains(method) ? method : "other";

    private sealed class Decrement(Gauge.Child gauge) : IDisposable
    {
        public void Dispose() => gauge.Dec();
    }
}
