using System.Diagnostics;
using System.Globalization;

namespace UltraRepo.Benchmarks.Load;

/// <summary>
/// How much CPU other processes on the machine used during a measurement (Linux /proc/stat), in cores:
/// the benchmark shares a small machine, and anything else running there distorts its numbers.
/// </summary>
internal sealed class MachineLoad
{
    private readonly Func<TimeSpan> _ours;
    private readonly TimeSpan _oursBefore;
    private readonly double _busyBefore;
    private readonly long _started = Stopwatch.GetTimestamp();

    private MachineLoad(Func<TimeSpan> ours)
    {
        _ours = ours;
        _oursBefore = ours();
        _busyBefore = BusySeconds();
    }

    /// <param name="ours">CPU used so far by the benchmark's own processes.</param>
    public static MachineLoad Start(Func<TimeSpan> ours) => new(ours);

    /// <summary>Average cores busy with other processes since the start (NaN where /proc/stat is unavailable).</summary>
    public double OtherCores()
    {
        var elapsed = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        var busy = BusySeconds() - _busyBefore;
        var ours = (_ours() - _oursBefore).TotalSeconds;
        return double.IsNaN(busy) || elapsed <= 0 ? double.NaN : Math.Max(0, busy - ours) / elapsed;
    }

    /// <summary>Seconds of CPU time spent not idle, summed over all cores, since boot.</summary>
    private static double BusySeconds()
    {
        const string stat = "/proc/stat";
        if (!File.Exists(stat))
        {
            return double.NaN;
        }

        // "cpu  user nice system idle iowait irq softirq steal ..." in clock ticks (USER_HZ, 100 on Linux).
        var fields = File.ReadLines(stat).First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Take(8).Sum();
        var idle = fields[3] + fields[4];
        return (total - idle) / 100.0;
    }
}
