using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>
/// Where the machine's CPU went during a run (Linux /proc): this process (load generator and host), the
/// PostgreSQL backends serving this run's database, and everything else on the machine. The load generator,
/// host and database share two cores with whatever else runs, so wall-clock rates depend on that; CPU time
/// per event does not, and gives the rate this work would reach with both cores to itself.
/// </summary>
public sealed class CpuAccount
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux
    private readonly BenchDatabase? _database;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly TimeSpan _processStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly (long Busy, long Total) _machineStart = Machine();
    private readonly Dictionary<int, long> _backendsStart;

    private CpuAccount(BenchDatabase? database, Dictionary<int, long> backends)
    {
        _database = database;
        _backendsStart = backends;
    }

    public static async Task<CpuAccount> StartAsync(BenchDatabase? database) =>
        new(database, database?.Provider == BenchProvider.Postgres ? await BackendsAsync(database) : []);

    public async Task<CpuUse> StopAsync()
    {
        var wall = Stopwatch.GetElapsedTime(_start);
        var process = Process.GetCurrentProcess().TotalProcessorTime - _processStart;
        var machine = Machine();
        double database = 0;
        if (_database?.Provider == BenchProvider.Postgres)
        {
            // Backends opened during the run count whole; ones open before count from the start.
            foreach (var (pid, ticks) in await BackendsAsync(_database))
            {
                database += (ticks - _backendsStart.GetValueOrDefault(pid)) / TicksPerSecond;
            }
        }

        var busy = (machine.Busy - _machineStart.Busy) / TicksPerSecond;
        var capacity = (machine.Total - _machineStart.Total) / TicksPerSecond;
        return new CpuUse(wall, process.TotalSeconds, database, Math.Max(0, busy - process.TotalSeconds - database), capacity, LoadAverage());
    }

    private static async Task<Dictionary<int, long>> BackendsAsync(BenchDatabase database)
    {
        var pids = new List<int>();
        await using (var connection = new NpgsqlConnection(BenchDatabase.PostgresServer))
        {
            await connection.OpenAsync();
            var name = new NpgsqlConnectionStringBuilder(database.ConnectionString).Database;
            await using var command = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE datname = $1", connection);
            command.Parameters.AddWithValue(name!);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                pids.Add(reader.GetInt32(0));
            }
        }

        var result = new Dictionary<int, long>();
        foreach (var pid in pids)
        {
            if (ProcessTicks(pid) is { } ticks)
            {
                result[pid] = ticks;
            }
        }

        return result;
    }

    /// <summary>utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/pid/stat, after the command name).</summary>
    private static long? ProcessTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static (long Busy, long Total) Machine()
    {
        if (!File.Exists("/proc/stat"))
        {
            return (0, 0);
        }

        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var idle = cpu[3] + cpu[4];
        var total = cpu.Sum();
        return (total - idle, total);
    }

    private static double LoadAverage() =>
        File.Exists("/proc/loadavg") ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture) : double.NaN;
}

/// <param name="Process">CPU seconds of this process (load generator and host).</param>
/// <param name="Database">CPU seconds of the PostgreSQL backends serving the run's database (0 for SQLite, which runs inside the process).</param>
/// <param name="Others">CPU seconds used by every other process on the machine meanwhile.</param>
/// <param name="Capacity">CPU seconds the machine had (wall × cores).</param>
public sealed record CpuUse(TimeSpan Wall, double Process, double Database, double Others, double Capacity, double LoadAverage)
{
    /// <summary>Share of the machine that went to other processes.</summary>
    public string OthersShare => Capacity <= 0 ? "–" : (Others / Capacity).ToString("P0", CultureInfo.InvariantCulture);

    public double OwnCpu => Process + Database;

    /// <summary>Microseconds of CPU (process + database) per item.</summary>
    public string MicrosecondsPer(long items) => items == 0 ? "–" : (OwnCpu * 1e6 / items).ToString("N0", CultureInfo.InvariantCulture) + " µs";

    /// <summary>The rate the run's own CPU cost allows on a machine whose cores all go to it (an upper bound).</summary>
    public string CpuBoundRate(long items) =>
        OwnCpu <= 0 ? "–" : (items / OwnCpu * Environment.ProcessorCount).ToString("N0", CultureInfo.InvariantCulture) + "/s";

    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{Process:0.0} s process + {Database:0.0} s PostgreSQL CPU in {Wall.TotalSeconds:0.0} s; other processes took {OthersShare} of the machine (load average {LoadAverage:0.0})");
}
