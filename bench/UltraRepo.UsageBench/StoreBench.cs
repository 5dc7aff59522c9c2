using System.Diagnostics;
using System.Globalization;
using UltraRepo.Metering;
using UltraRepo.Metering.Spool;
using UltraRepo.Metering.Storage;
using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>store</c>: sustained events per second from the spool into the database. Concurrent writers append
/// realistic events to the real <see cref="UsageSpool"/>; the real <see cref="UsageShipper"/> ships them
/// (<see cref="UsageShipper.ShipBatchAsync"/> in a loop, as its hosted loop does) into the configured
/// <see cref="IUsageStore"/>. Two modes: <c>concurrent</c> (appending and shipping at once, as in production)
/// <c>backlog</c> (append everything, then drain: the shipping rate on its own) and <c>paced</c> (writers append at
/// <c>--rate</c> events/s for <c>--seconds</c>: whether the shipper keeps up with that rate sustained, seen in the
/// largest backlog while appending and the drain after the last append). Zero loss is verified
/// from the database: raw rows, hourly and daily rollup request counts and token sums.
/// </summary>
public static class StoreBench
{
    private sealed record Result(
        string Database, string Mode, int InFlight, int MaxBatch, int Events, int Writers, TimeSpan Append, TimeSpan ShipBusy, TimeSpan StoreWrite, int Batches,
        Percentiles BatchMs, TimeSpan EndToEnd, long Rows, long HourlyRequests, long DailyRequests, long Tokens, long RowTokens, long DailyTokens,
        string Cost, string DailyCost, CpuUse Cpu, CpuUse? AppendCpu, CpuUse? ShipCpu, int MaxPending);

    public static async Task RunAsync(string[] command)
    {
        var args = new BenchArgs(command[1..]);
        var providers = args.Providers();
        var pgEvents = args.Option("pg-events", 1_000_000);
        var sqliteEvents = args.Option("sqlite-events", 300_000);
        var writers = args.Option("writers", 64);
        var consumers = args.Option("consumers", 2_000);
        var listings = args.Option("listings", 50);
        var modes = args.Option("modes", "concurrent,backlog").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var inFlight = Numbers(args.Option("in-flight", "1,2"));
        // 0 = the store's own MaxBatch; other sizes for side-by-side comparisons.
        var maxBatches = Numbers(args.Option("max-batch", "0"));
        // Paced mode: the offered rate per database and how long it is offered.
        var pgRate = args.Option("pg-rate", 50_000);
        var sqliteRate = args.Option("sqlite-rate", 20_000);
        var seconds = args.Option("seconds", 30);
        // month: timestamps spread over last month in append order (nearly every event starts its own hourly rollup
        // row: the worst case); live: each event stamped when appended, as the gateway does.
        var timestamps = args.Option("timestamps", "month");
        if (timestamps is not ("month" or "live"))
        {
            throw new ArgumentException($"unknown --timestamps '{timestamps}' (month, live)");
        }

        args.EnsureAllUsed();

        Preamble.Print("Usage store: spool → shipper → database (issue goal: ≥ 50,000 events/s PostgreSQL, ≥ 20,000/s SQLite, zero loss)", command);
        var results = new List<Result>();
        var databases = new List<string>();
        foreach (var provider in providers)
        {
            foreach (var mode in modes)
            {
                // SQLite has one writer at a time: batches in flight only make sense on PostgreSQL.
                foreach (var batches in provider == BenchProvider.Postgres ? inFlight : [1])
                {
                    foreach (var maxBatch in maxBatches)
                    {
                        var rate = mode == "paced" ? (provider == BenchProvider.Postgres ? pgRate : sqliteRate) : 0;
                        var events = rate > 0 ? rate * seconds : provider == BenchProvider.Postgres ? pgEvents : sqliteEvents;
                        results.Add(await RunOnceAsync(provider, mode, batches, maxBatch, events, rate, timestamps == "live", writers, consumers, listings, databases));
                    }
                }
            }
        }

        var when = timestamps == "live" ? "each stamped with the time it was appended (as the gateway does)" : $"timestamps spread over {Period()} in append order";
        Console.WriteLine($"Events: {consumers:N0} consumers × {listings} listings, {when}, " +
            $"~95% ok / 2.5% rpc_error / 1.5% upstream_error / 0.5% limited, log-normal tokens, costs at 0.002/1K. Spool: SyncEachCommit=false (default).");
        foreach (var d in databases.Distinct())
        {
            Console.WriteLine($"Database: {d}");
        }

        Console.WriteLine();
        var table = new MarkdownTable("Database", "Mode", "Batches in flight", "Max batch", "Events", "Writers", "Append", "Append rate", "Shipping (busy)", "Ship rate", "store.WriteAsync share", "Batch p50 / p99", "End-to-end", "**End-to-end rate**");
        foreach (var r in results)
        {
            table.Add(r.Database, r.Mode, r.InFlight, r.MaxBatch, r.Events, r.Writers, Rate.Seconds(r.Append), Rate.PerSecond(r.Events, r.Append), Rate.Seconds(r.ShipBusy),
                Rate.PerSecond(r.Events, r.ShipBusy), $"{r.StoreWrite.TotalSeconds / r.ShipBusy.TotalSeconds:P0}",
                $"{Ms.Of(r.BatchMs.P50)} / {Ms.Of(r.BatchMs.P99)}", Rate.Seconds(r.EndToEnd), $"**{Rate.PerSecond(r.Events, r.EndToEnd)}**");
        }

        table.Print();
        var paced = results.Where(r => r.Mode.StartsWith("paced", StringComparison.Ordinal)).ToList();
        if (paced.Count > 0)
        {
            var pacedTable = new MarkdownTable("Database", "Mode", "Events", "Appending", "Offered rate (achieved)", "Largest backlog while appending", "Drain after the last append", "**Kept up**");
            foreach (var r in paced)
            {
                var drain = r.EndToEnd - r.Append;
                // Kept up: the backlog never grew past two batches, and the last event was in the database within the
                // issue's freshness goal (2 s) of the last append.
                var keptUp = r.MaxPending <= 2 * r.MaxBatch && drain < TimeSpan.FromSeconds(2);
                pacedTable.Add(r.Database, r.Mode, r.Events, Rate.Seconds(r.Append), Rate.PerSecond(r.Events, r.Append), $"{r.MaxPending:N0} events",
                    $"{drain.TotalMilliseconds:N0} ms", keptUp ? "**yes** ✓" : "**no** ✗");
            }

            pacedTable.Print();
        }

        var cpu = new MarkdownTable("Database", "Mode", "Batches in flight", "Max batch", "Process CPU / event: append", "Process CPU / event: ship", "PostgreSQL CPU / event", "Total CPU / event",
            "Ship rate per core of CPU", "Other processes' share of the machine", "Load average");
        foreach (var r in results)
        {
            string PerEvent(double seconds) => $"{seconds * 1e6 / r.Events:N0} µs";
            var pg = r.Database == "SQLite" ? "(in process)" : PerEvent(r.Cpu.Database);
            cpu.Add(r.Database, r.Mode, r.InFlight, r.MaxBatch,
                r.AppendCpu is { } a ? PerEvent(a.Process) : "(overlapped)",
                r.ShipCpu is { } s ? PerEvent(s.Process) : "(overlapped)",
                pg, r.Cpu.MicrosecondsPer(r.Events),
                r.ShipCpu is { } ship ? $"{r.Events / ship.OwnCpu:N0}/s" : "–",
                r.Cpu.OthersShare, r.Cpu.LoadAverage.ToString("0.0", CultureInfo.InvariantCulture));
        }

        cpu.Print();
        var verification = new MarkdownTable("Database", "Mode", "Batches in flight", "Max batch", "Appended", "usage_events rows", "Σ requests hourly", "Σ requests daily", "Σ tokens appended", "Σ tokens rows", "Σ tokens daily", "Σ cost appended", "Σ cost daily", "Lost");
        foreach (var r in results)
        {
            var lost = r.Events - r.Rows;
            var exact = r.Rows == r.Events && r.HourlyRequests == r.Events && r.DailyRequests == r.Events && r.RowTokens == r.Tokens && r.DailyTokens == r.Tokens && r.Cost == r.DailyCost;
            verification.Add(r.Database, r.Mode, r.InFlight, r.MaxBatch, r.Events, r.Rows, r.HourlyRequests, r.DailyRequests, r.Tokens, r.RowTokens, r.DailyTokens, r.Cost, r.DailyCost,
                exact ? "**0** ✓" : $"**{lost} ✗ (mismatch)**");
        }

        verification.Print();
        Console.WriteLine("Shipping (busy) is the time spent inside `UsageShipper.ShipAsync` (spool read + JSON decode, done during the previous write while a backlog waits, + `IUsageStore.WriteAsync` + checkpoint fsync); " +
            "`Batches in flight` is how many batches the shipper writes at once (PostgreSQL's store takes 2; 1 is the sequential loop, for comparison); " +
            "`Max batch` is the most events per batch (the store's `IUsageStore.MaxBatch` unless `--max-batch` sets it); " +
            "`store.WriteAsync share` is the time spent in database writes (summed over concurrent writes, so it can exceed 100 %) over the shipping time. End-to-end runs from the first append to the moment the last event is committed. " +
            "CPU per event counts this process (event generation, spool, shipper, store) and the PostgreSQL backends of the run's database; " +
            "In backlog mode the phases are measured apart: append (the benchmark's event generation + spool serialization and writes) and ship " +
            "(spool read + decode + COPY in this process, and the PostgreSQL backend's work). `Ship rate per core of CPU` = events ÷ ship-phase CPU " +
            "(process + PostgreSQL): what one fully used core buys; the machine's two cores bound the ship rate at twice that.");
    }

    private static int[] Numbers(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();

    private static string Period() => UsageEvents.Period(UsageEvents.LastFullMonth);

    private static async Task<Result> RunOnceAsync(BenchProvider provider, string mode, int inFlight, int maxBatch, int count, int rate, bool live, int writers, int consumerCount, int listingCount, List<string> databases)
    {
        await using var database = await BenchDatabase.CreateAsync(provider);
        databases.Add(await database.DescribeAsync());
        await using var host = await BenchHost.CreateAsync(database, listen: false);
        var spool = host.Service<UsageSpool>();
        var store = new TimedStore(host.Service<IUsageStore>(), inFlight, maxBatch);
        // The real shipper class over the real store; the decorator only measures the database write.
        var shipper = new UsageShipper(spool, store, TimeProvider.System, host.Service<ILogger<UsageShipper>>());

        var consumers = Enumerable.Range(0, consumerCount).Select(_ => Guid.CreateVersion7()).ToArray();
        var keys = consumers.Select(_ => Guid.CreateVersion7()).ToArray();
        var listings = Enumerable.Range(0, listingCount).Select(l => $"com.ultrarepo.pub{l % 10}/server-{l}").ToArray();
        var month = UsageEvents.LastFullMonth;
        var span = month.AddMonths(1) - month;
        long tokens = 0;
        decimal cost = 0;
        var costLock = new Lock();

        Announce(provider, mode, inFlight, store.MaxBatch, count, rate, writers);
        var account = await CpuAccount.StartAsync(database);
        var appended = 0;
        var appendDone = false;
        var start = Stopwatch.GetTimestamp();
        var appendTask = Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w * 7919 + 17);
            long localTokens = 0;
            decimal localCost = 0;
            for (long i = w; i < count; i += writers)
            {
                if (rate > 0 && TimeSpan.FromSeconds((double)i / rate) - Stopwatch.GetElapsedTime(start) is { Ticks: > 0 } early)
                {
                    await Task.Delay(early);
                }

                var timestamp = live ? DateTime.UtcNow : month + span * ((i + random.NextDouble()) / count);
                var consumer = random.Next(consumers.Length);
                var listing = random.Next(listings.Length);
                var usage = UsageEvents.Create(random, timestamp, consumers[consumer], listings[listing], keys[consumer], UsageEvents.PairId(consumer, listing), i, UsageEvents.FlatCost);
                localTokens += usage.TotalTokens;
                localCost += usage.Cost;
                await spool.RecordAsync(usage, CancellationToken.None);
                Interlocked.Increment(ref appended);
            }

            Interlocked.Add(ref tokens, localTokens);
            lock (costLock)
            {
                cost += localCost;
            }
        })));

        TimeSpan append = default;
        var shipBusy = TimeSpan.Zero;
        var batchMs = new List<double>();
        var shipped = 0;
        var maxPending = 0;
        using var sampler = new Timer(_ =>
        {
            if (!Volatile.Read(ref appendDone))
            {
                var pending = Volatile.Read(ref appended) - Volatile.Read(ref shipped);
                if (pending > Volatile.Read(ref maxPending))
                {
                    Volatile.Write(ref maxPending, pending);
                }
            }
        }, null, 50, 50);
        using var progress = new Timer(_ => Preamble.Progress($"store {database.Name} {mode}: appended {Volatile.Read(ref appended):N0}/{count:N0}, shipped {Volatile.Read(ref shipped):N0}"), null, 5000, 5000);
        CpuUse? appendCpu = null;
        CpuAccount? shipAccount = null;
        if (mode == "backlog")
        {
            await appendTask;
            append = Stopwatch.GetElapsedTime(start);
            appendDone = true;
            appendCpu = await account.StopAsync();
            shipAccount = await CpuAccount.StartAsync(database);
        }
        else
        {
            _ = appendTask.ContinueWith(t =>
            {
                append = Stopwatch.GetElapsedTime(start);
                Volatile.Write(ref appendDone, true);
            }, TaskScheduler.Default);
        }

        while (true)
        {
            var before = Stopwatch.GetTimestamp();
            var n = await shipper.ShipAsync(CancellationToken.None);
            if (n > 0)
            {
                var elapsed = Stopwatch.GetElapsedTime(before);
                shipBusy += elapsed;
                batchMs.Add(elapsed.TotalMilliseconds);
                Interlocked.Add(ref shipped, n);
                continue;
            }

            if (Volatile.Read(ref appendDone) && shipped >= count)
            {
                break;
            }

            if (appendTask.IsFaulted)
            {
                await appendTask;
            }

            await spool.WaitForAppendAsync(TimeSpan.FromMilliseconds(100), CancellationToken.None);
        }

        var endToEnd = Stopwatch.GetElapsedTime(start);
        await appendTask;
        var shipCpu = shipAccount is null ? null : await shipAccount.StopAsync();
        var cpu = await account.StopAsync();
        Preamble.Progress($"store {database.Name} {mode}: {count:N0} events shipped in {endToEnd.TotalSeconds:0.0} s; verifying");

        var rows = await database.ScalarAsync("SELECT count(*) FROM usage_events");
        var hourly = await database.ScalarAsync("SELECT sum(requests) FROM usage_hourly");
        var daily = await database.ScalarAsync("SELECT sum(requests) FROM usage_daily");
        var rowTokens = await database.ScalarAsync("SELECT sum(total_tokens) FROM usage_events");
        var dailyTokens = await database.ScalarAsync("SELECT sum(total_tokens) FROM usage_daily");
        // SQLite keeps costs as exact decimal text (summed in .NET by the store): add them up exactly here too.
        var dailyCost = provider == BenchProvider.Postgres
            ? Normalize(await database.TextAsync("SELECT sum(cost) FROM usage_daily"))
            : Normalize(await SumTextDecimalsAsync(database, "SELECT cost FROM usage_daily"));
        return new Result(database.Name, rate > 0 ? $"paced {rate:N0}/s" : mode, inFlight, store.MaxBatch, count, writers, append, shipBusy, store.Elapsed, batchMs.Count, Percentiles.Of(batchMs), endToEnd,
            rows, hourly, daily, tokens, rowTokens, dailyTokens, Normalize(cost.ToString(CultureInfo.InvariantCulture)), dailyCost, cpu, appendCpu, shipCpu, Volatile.Read(ref maxPending));
    }

    private static void Announce(BenchProvider provider, string mode, int inFlight, int maxBatch, int count, int rate, int writers)
    {
        if (mode is not ("concurrent" or "backlog" or "paced"))
        {
            throw new ArgumentException($"unknown mode '{mode}' (concurrent, backlog, paced)");
        }

        var offered = rate > 0 ? $" offered at {rate:N0}/s" : "";
        Preamble.Progress($"store {provider} {mode}: {count:N0} events{offered}, {writers} writers, {inFlight} batches in flight of at most {maxBatch:N0}");
    }

    private static async Task<string> SumTextDecimalsAsync(BenchDatabase database, string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        decimal sum = 0;
        while (await reader.ReadAsync())
        {
            sum += decimal.Parse(reader.GetString(0), CultureInfo.InvariantCulture);
        }

        return sum.ToString(CultureInfo.InvariantCulture);
    }

    private static string Normalize(string number) =>
        decimal.TryParse(number, NumberStyles.Number, CultureInfo.InvariantCulture, out var d) ? d.ToString("0.############", CultureInfo.InvariantCulture) : number;

    /// <summary>Measures the time spent in the store's <see cref="IUsageStore.WriteAsync"/> (the database part of shipping).</summary>
    private sealed class TimedStore(IUsageStore inner, int concurrentWrites, int maxBatch) : IUsageStore
    {
        private long _ticks;

        public int ConcurrentWrites => Math.Min(concurrentWrites, inner.ConcurrentWrites);

        public int MaxBatch => maxBatch > 0 ? maxBatch : inner.MaxBatch;

        public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref _ticks) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);

        public async Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                return await inner.WriteAsync(events, ct);
            }
            finally
            {
                Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
            }
        }
    }
}
