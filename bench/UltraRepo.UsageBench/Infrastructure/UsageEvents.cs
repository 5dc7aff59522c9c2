using System.Globalization;
using UltraRepo.Metering;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>
/// Usage events shaped like the gateway's: mostly <c>tools/call</c> with a tool name, a JSON-RPC id and a
/// session, log-normal input and output token counts, a few JSON-RPC errors, upstream errors and limited
/// requests (those without tokens or cost), and a latency.
/// </summary>
public static class UsageEvents
{
    private static readonly string[] Tools = ["search", "fetch_page", "summarize", "query_database", "send_message", "create_issue", "get_weather", "translate"];

    /// <summary>The month everything is generated in: the last full calendar month (UTC), so the host's retention keeps it.</summary>
    public static DateTime LastFullMonth
    {
        get
        {
            var now = DateTime.UtcNow;
            return new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(-1);
        }
    }

    public static string Period(DateTime instant) => instant.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>The seed plan's first tier (0.002 per 1K tokens): an exact decimal per token.</summary>
    public static decimal FlatCost(long billableTokens) => billableTokens * 0.000002m;

    /// <param name="cost">Cost of the event's billable tokens (the gateway's marginal cost).</param>
    public static UsageEvent Create(Random random, DateTime timestamp, Guid consumerId, string serverName, Guid? keyId, Guid? subscriptionId, long sequence, Func<long, decimal> cost)
    {
        var roll = random.NextDouble();
        var outcome = roll < 0.955 ? UsageOutcome.Ok : roll < 0.98 ? UsageOutcome.RpcError : roll < 0.995 ? UsageOutcome.UpstreamError : UsageOutcome.Limited;
        var method = random.Next(20) switch
        {
            0 => "tools/list",
            1 => "resources/read",
            2 => "prompts/get",
            _ => "tools/call",
        };
        var billable = outcome is UsageOutcome.Ok or UsageOutcome.RpcError;
        var input = outcome == UsageOutcome.Limited ? 0 : LogNormal(random, 180, 0.8, 5, 20_000);
        var output = !billable ? 0 : outcome == UsageOutcome.RpcError ? LogNormal(random, 25, 0.5, 5, 200) : LogNormal(random, 700, 1.0, 10, 60_000);
        return new UsageEvent
        {
            Id = Guid.CreateVersion7(timestamp),
            Timestamp = timestamp,
            Period = Period(timestamp),
            ConsumerId = consumerId,
            KeyId = keyId,
            SubscriptionId = subscriptionId,
            ServerName = serverName,
            ServerVersion = "1.0.0",
            Method = method,
            Target = method == "tools/call" ? Tools[random.Next(Tools.Length)] : method == "resources/read" ? "file:///docs/readme.md" : method == "prompts/get" ? "summarize" : null,
            JsonRpcId = sequence.ToString(CultureInfo.InvariantCulture),
            SessionId = "s-" + consumerId.ToString("N")[..16],
            InputTokens = input,
            OutputTokens = output,
            TotalTokens = input + output,
            LatencyMs = (int)LogNormal(random, 120, 0.9, 3, 30_000),
            Outcome = outcome,
            HttpStatus = outcome switch { UsageOutcome.UpstreamError => 502, UsageOutcome.Limited => 429, _ => 200 },
            Cost = billable ? cost(input + output) : 0m,
            Currency = "USD",
            Tokenizer = "o200k_base",
        };
    }

    /// <summary>A deterministic id for a (consumer, listing) pair, where the benchmark needs a subscription id but no row.</summary>
    public static Guid PairId(int consumer, int listing) => new(consumer, (short)listing, 0x7000, 0x80, 0, 0, 0, 0, 0, 0, 1);

    private static long LogNormal(Random random, double median, double sigma, long min, long max)
    {
        // Box–Muller.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        var normal = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        return Math.Clamp((long)Math.Round(median * Math.Exp(sigma * normal)), min, max);
    }
}
