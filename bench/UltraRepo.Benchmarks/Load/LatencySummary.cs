using System.Diagnostics;

namespace UltraRepo.Benchmarks.Load;

/// <summary>
/// Exact percentiles (nearest rank over every sample, no histogram bucketing) of one run's latencies, in milliseconds.
/// </summary>
internal sealed record LatencySummary(int Count, double Mean, double P50, double P90, double P99, double P999, double Max)
{
    public static readonly LatencySummary Empty = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    /// <summary>Sorts <paramref name="ticks"/> (Stopwatch ticks) in place.</summary>
    public static LatencySummary FromTicks(long[] ticks, int count)
    {
        if (count == 0)
        {
            return Empty;
        }

        var samples = ticks.AsSpan(0, count);
        samples.Sort();
        double sum = 0;
        foreach (var t in samples)
        {
            sum += t;
        }

        return new LatencySummary(
            count,
            ToMs(sum / count),
            ToMs(Rank(samples, 0.50)),
            ToMs(Rank(samples, 0.90)),
            ToMs(Rank(samples, 0.99)),
            ToMs(Rank(samples, 0.999)),
            ToMs(samples[^1]));
    }

    private static long Rank(ReadOnlySpan<long> sorted, double quantile) =>
        sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double ToMs(double ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}

/// <summary>A constant-rate run: latency from each request's scheduled send time to the end of its response body.</summary>
/// <param name="Timeline">Per scheduled request: latency in ms (NaN for an error), in schedule order, for looking at stalls over time.</param>
internal sealed record OpenLoopResult(int Scheduled, int Errors, double AchievedRate, LatencySummary Latency, LatencySummary SchedulerLag, double[] Timeline);

/// <summary>A closed-loop run: completed requests per second with a fixed number of workers.</summary>
internal sealed record ClosedLoopResult(int Workers, int Completed, int Errors, double RequestsPerSecond, LatencySummary Latency);
