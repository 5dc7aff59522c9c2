using System.Diagnostics;
using System.Globalization;
using Npgsql;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Metering;
using UltraRepo.Metering.Storage;
using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>dashboards</c>: dashboard latency at 10 million events on PostgreSQL. Publishers, their package listings
/// and the consumers who sign in are created through the HTTP API (the rest of the consumers directly in the
/// users table); 10 million realistic events go through <see cref="IUsageStore.WriteAsync"/> in large batches
/// (raw events and rollups); then, over real HTTP, sequential requests time
/// <c>GET /api/consumer/usage?month=</c> and <c>GET /api/publisher/analytics?start_date=&amp;end_date=</c> (30 days),
/// right after the load and again after <c>VACUUM ANALYZE</c>. The commands behind one request of each are
/// recorded and the slowest is explained.
/// </summary>
public static class DashboardsBench
{
    private sealed record Timing(string Endpoint, string Caller, string State, Percentiles Ms, int Bytes);

    public static async Task RunAsync(string[] command)
    {
        var args = new BenchArgs(command[1..]);
        var total = args.Option("events", 10_000_000);
        var consumerCount = args.Option("consumers", 5_000);
        var listingCount = args.Option("listings", 200);
        var publisherCount = args.Option("publishers", 50);
        var days = args.Option("days", 30);
        var requests = args.Option("requests", 300);
        var warmup = args.Option("warmup", 30);
        var signedIn = args.Option("signed-in-consumers", 10);
        var batch = args.Option("batch", 50_000);
        var writers = args.Option("writers", 2);
        args.EnsureAllUsed();

        Preamble.Print("Dashboards at 10 million events (PostgreSQL; issue goal: p95 ≤ 50 ms)", command);
        await using var database = await BenchDatabase.CreateAsync(BenchProvider.Postgres);
        var describe = await database.DescribeAsync();
        await using var host = await BenchHost.CreateAsync(database, listen: true);
        using var api = new MarketplaceApi(host.BaseAddress);
        var month = UsageEvents.LastFullMonth;

        // Publishers and listings through the API; listing i is owned by publisher i % publishers.
        Preamble.Progress($"dashboards: {publisherCount} publishers, {listingCount} listings, {signedIn} signed-in consumers through the API");
        var publishers = new BenchUser[publisherCount];
        await MarketplaceApi.ForEachAsync(Enumerable.Range(0, publisherCount), 4, async p => publishers[p] = await api.RegisterAsync($"dashpub{p}", withKey: false));
        var listings = Enumerable.Range(0, listingCount).Select(l => $"{publishers[l % publisherCount].Namespace}/tool-{l}").ToArray();
        await MarketplaceApi.ForEachAsync(Enumerable.Range(0, listingCount), 4, async l =>
        {
            var owner = publishers[l % publisherCount];
            await api.PublishPackageAsync(owner, listings[l], $"Tool {l}");
            await api.SetPricingAsync(owner, listings[l]);
        });
        var sessions = new BenchUser[signedIn];
        await MarketplaceApi.ForEachAsync(Enumerable.Range(0, signedIn), 4, async i => sessions[i] = await api.RegisterAsync($"dashcon{i}", withKey: false));

        // Consumers by activity rank (log-normal weights, heaviest first); the signed-in ones sit at evenly spaced ranks.
        var random = new Random(42);
        var weights = Enumerable.Range(0, consumerCount).Select(_ => Math.Exp(1.2 * Normal(random))).OrderDescending().ToArray();
        var consumers = new Guid[consumerCount];
        var signedInRank = new int[signedIn];
        for (var i = 0; i < signedIn; i++)
        {
            signedInRank[i] = i * consumerCount / signedIn;
            consumers[signedInRank[i]] = sessions[i].Id;
        }

        await InsertOtherConsumersAsync(host, consumers);

        // Each consumer uses 1–8 listings, picked by Zipf popularity (listing i has rank i).
        var zipf = Cumulative(Enumerable.Range(0, listingCount).Select(r => 1.0 / (r + 1)).ToArray());
        var uses = new int[consumerCount][];
        for (var c = 0; c < consumerCount; c++)
        {
            var set = new HashSet<int>();
            var k = random.Next(1, 9);
            while (set.Count < Math.Min(k, listingCount))
            {
                set.Add(Pick(zipf, random.NextDouble()));
            }

            uses[c] = [.. set];
        }

        var load = await LoadAsync(host, database, consumers, weights, uses, listings, month, days, total, batch, writers);

        var stats = new MarkdownTable("Data", "Rows");
        stats.Add("usage_events (raw)", await database.ScalarAsync("SELECT count(*) FROM usage_events"));
        stats.Add("usage_hourly", await database.ScalarAsync("SELECT count(*) FROM usage_hourly"));
        stats.Add("usage_daily", await database.ScalarAsync("SELECT count(*) FROM usage_daily"));
        stats.Add("Σ requests in usage_daily", await database.ScalarAsync("SELECT sum(requests) FROM usage_daily"));
        stats.Add("database size (MB)", await database.ScalarAsync("SELECT pg_database_size(current_database()) / 1048576"));

        // The callers: consumer sessions (rotating), all publishers (rotating) and the busiest publisher (publisher 0 owns the most popular listing).
        var monthText = UsageEvents.Period(month);
        var consumerPath = $"/api/consumer/usage?month={monthText}";
        var analyticsPath = $"/api/publisher/analytics?start_date={month:yyyy-MM-dd}&end_date={month.AddDays(days - 1):yyyy-MM-dd}";
        var timings = new List<Timing>();
        foreach (var state in new[] { "after load", "after VACUUM ANALYZE" })
        {
            if (state != "after load")
            {
                Preamble.Progress("dashboards: VACUUM ANALYZE");
                await database.ExecuteAsync("VACUUM ANALYZE usage_daily");
                await database.ExecuteAsync("VACUUM ANALYZE usage_hourly");
                await database.ExecuteAsync("ANALYZE usage_events");
            }

            Preamble.Progress($"dashboards ({state}): {requests} requests per endpoint and caller, after {warmup} warm-up requests");
            timings.Add(await TimeAsync("GET /api/consumer/usage?month=", $"{signedIn} consumers (ranks {string.Join(", ", signedInRank.Take(3))}…), rotating", state,
                sessions.Select(s => s.Session).ToArray(), consumerPath, requests, warmup));
            timings.Add(await TimeAsync("GET /api/publisher/analytics (30 days)", $"all {publisherCount} publishers, rotating", state,
                publishers.Select(p => p.Session).ToArray(), analyticsPath, requests, warmup));
            timings.Add(await TimeAsync("GET /api/publisher/analytics (30 days)", "busiest publisher (4 top-ranked listings)", state,
                [publishers[0].Session], analyticsPath, requests, warmup));
        }

        Console.WriteLine($"Data: {total:N0} events over {days} days of {monthText}, {consumerCount:N0} consumers (log-normal activity; each uses 1–8 of {listingCount} listings chosen by Zipf popularity), " +
            $"{listingCount} package listings owned by {publisherCount} publishers (listing i by publisher i mod {publisherCount}). Loaded with `IUsageStore.WriteAsync`, {batch:N0}-event batches, {writers} concurrent writers " +
            $"(disjoint consumers): {Rate.Seconds(load.Elapsed)}, {Rate.PerSecond(total, load.Elapsed)} ({load.Cpu.Summary}).");
        Console.WriteLine($"Database: {describe}");
        Console.WriteLine();
        stats.Print();
        var table = new MarkdownTable("Endpoint", "Caller", "State", "Requests", "p50", "**p95**", "p99", "max", "Response size");
        foreach (var t in timings)
        {
            table.Add(t.Endpoint, t.Caller, t.State, t.Ms.Count, Ms.Of(t.Ms.P50), $"**{Ms.Of(t.Ms.P95)}**", Ms.Of(t.Ms.P99), Ms.Of(t.Ms.Max), $"{t.Bytes / 1024.0:0.0} KiB");
        }

        table.Print();
        Console.WriteLine("Requests are sequential (one at a time, keep-alive, cookie session), so the figures are service times without queueing.");
        Console.WriteLine();
        await ExplainAsync(database, sessions[0].Session, consumerPath, "consumer usage (heaviest consumer)");
        await ExplainAsync(database, publishers[0].Session, analyticsPath, "publisher analytics (busiest publisher)");
    }

    private static async Task InsertOtherConsumersAsync(BenchHost host, Guid[] consumers)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        for (var c = 0; c < consumers.Length; c++)
        {
            if (consumers[c] != Guid.Empty)
            {
                continue;
            }

            var user = new User { Email = $"load{c}@bench.example.com", Handle = $"load{c}", PasswordHash = "not-a-login", CreatedAt = DateTime.UtcNow };
            db.Users.Add(user);
            consumers[c] = user.Id;
        }

        await db.SaveChangesAsync();
    }

    private sealed record Loaded(TimeSpan Elapsed, CpuUse Cpu);

    private static async Task<Loaded> LoadAsync(BenchHost host, BenchDatabase database, Guid[] consumers, double[] weights, int[][] uses, string[] listings,
        DateTime month, int days, int total, int batch, int writers)
    {
        var store = host.Service<IUsageStore>();
        var slices = Math.Max(1, total / (writers * batch));
        var span = TimeSpan.FromDays(days);
        var written = 0L;
        var keys = consumers.Select(_ => Guid.CreateVersion7()).ToArray();
        Preamble.Progress($"dashboards: loading {slices * writers * batch:N0} events with {writers} writers");
        var account = await CpuAccount.StartAsync(database);
        var start = Stopwatch.GetTimestamp();
        using var progress = new Timer(_ =>
        {
            var done = Interlocked.Read(ref written);
            var elapsed = Stopwatch.GetElapsedTime(start);
            var eta = done == 0 ? "?" : $"{(total - done) / (done / elapsed.TotalSeconds):0} s";
            Preamble.Progress($"dashboards: {done:N0} / {total:N0} events written, {Rate.PerSecond(done, elapsed)}, ETA {eta}");
        }, null, 10_000, 10_000);
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            // Writers own disjoint consumers, so their rollup upserts never touch the same rows (no lock waits or deadlocks).
            var mine = Enumerable.Range(0, consumers.Length).Where(c => c % writers == w).ToArray();
            var cumulative = Cumulative(mine.Select(c => weights[c]).ToArray());
            var random = new Random(1000 + w);
            var sequence = 0L;
            for (var s = 0; s < slices; s++)
            {
                var events = new List<UsageEvent>(batch);
                var from = month + span * s / slices;
                for (var i = 0; i < batch; i++)
                {
                    var c = mine[Pick(cumulative, random.NextDouble())];
                    var set = uses[c];
                    // Within a consumer's listings, the first is used most.
                    var l = set[Math.Min(set.Length - 1, (int)(set.Length * random.NextDouble() * random.NextDouble()))];
                    var timestamp = from + span / slices * random.NextDouble();
                    events.Add(UsageEvents.Create(random, timestamp, consumers[c], listings[l], keys[c], UsageEvents.PairId(c, l), ++sequence, UsageEvents.FlatCost));
                }

                events.Sort((a, b) => a.Timestamp.CompareTo(b.Timestamp));
                await store.WriteAsync(events, CancellationToken.None);
                Interlocked.Add(ref written, events.Count);
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(start);
        return new Loaded(elapsed, await account.StopAsync());
    }

    private static async Task<Timing> TimeAsync(string endpoint, string caller, string state, HttpClient[] sessions, string path, int requests, int warmup)
    {
        var samples = new List<double>(requests);
        var bytes = 0;
        for (var i = -warmup; i < requests; i++)
        {
            var client = sessions[(i + warmup) % sessions.Length];
            var start = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(path);
            var body = await response.Content.ReadAsByteArrayAsync();
            var ms = Ms.Since(start);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
            }

            if (i >= 0)
            {
                samples.Add(ms);
                bytes = Math.Max(bytes, body.Length);
            }
        }

        return new Timing(endpoint, caller, state, Percentiles.Of(samples), bytes);
    }

    /// <summary>Records the commands behind one request, then runs EXPLAIN (ANALYZE, BUFFERS) on the slowest.</summary>
    private static async Task ExplainAsync(BenchDatabase database, HttpClient session, string path, string what)
    {
        using var recorder = new SqlRecorder();
        recorder.Start();
        var start = Stopwatch.GetTimestamp();
        using (var response = await session.GetAsync(path))
        {
            await response.Content.ReadAsByteArrayAsync();
        }

        var requestMs = Ms.Since(start);
        var commands = recorder.Stop();
        Console.WriteLine($"### SQL behind one request: {what} — `GET {path}` took {Ms.Of(requestMs)}, {commands.Count} commands, {Ms.Of(commands.Sum(c => c.Duration.TotalMilliseconds))} in the database");
        Console.WriteLine();
        var table = new MarkdownTable("#", "Duration", "SQL (first 160 characters)");
        for (var i = 0; i < commands.Count; i++)
        {
            table.Add(i + 1, Ms.Of(commands[i].Duration.TotalMilliseconds), "`" + OneLine(commands[i].Sql, 160) + "`");
        }

        table.Print();
        if (commands.Count == 0)
        {
            return;
        }

        var slowest = commands.MaxBy(c => c.Duration)!;
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS) " + slowest.Sql, connection);
        foreach (var (name, value) in slowest.Parameters)
        {
            explain.Parameters.Add(new NpgsqlParameter(name, value ?? DBNull.Value));
        }

        Console.WriteLine($"EXPLAIN (ANALYZE, BUFFERS) of the slowest ({Ms.Of(slowest.Duration.TotalMilliseconds)}), parameters: {string.Join(", ", slowest.Parameters.Select(p => $"{p.Name}={Describe(p.Value)}"))}");
        Console.WriteLine();
        Console.WriteLine("```");
        Console.WriteLine(slowest.Sql);
        Console.WriteLine();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            Console.WriteLine(reader.GetString(0));
        }

        Console.WriteLine("```");
        Console.WriteLine();
    }

    private static string Describe(object? value) => value switch
    {
        null => "null",
        string s => $"'{s}'",
        System.Collections.IEnumerable list => $"[{string.Join(", ", list.Cast<object?>().Take(6))}{(list.Cast<object?>().Count() > 6 ? ", …" : "")}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string OneLine(string sql, int max)
    {
        var line = string.Join(' ', sql.Split((char[])['\n', '\r', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries)).Replace("|", "\\|", StringComparison.Ordinal);
        return line.Length <= max ? line : line[..max] + "…";
    }

    private static double[] Cumulative(double[] weights)
    {
        var cumulative = new double[weights.Length];
        var sum = 0.0;
        for (var i = 0; i < weights.Length; i++)
        {
            sum += weights[i];
            cumulative[i] = sum;
        }

        for (var i = 0; i < cumulative.Length; i++)
        {
            cumulative[i] /= sum;
        }

        return cumulative;
    }

    private static int Pick(double[] cumulative, double u)
    {
        var i = Array.BinarySearch(cumulative, u);
        return Math.Min(cumulative.Length - 1, i < 0 ? ~i : i);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());
}
