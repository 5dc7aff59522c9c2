using System.Diagnostics;
using System.Globalization;
using System.Text;
using UltraRepo.Metering;
using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>ingest</c>: the Lago-compatible batch API over real HTTP. A publisher with a usage-priced package listing
/// and consumers subscribed to it (all set up through the HTTP API); concurrent clients post 1,000-event
/// batches to <c>POST /api/v1/events/batch</c> for a fixed time; then the run waits until the shipper has
/// moved everything to the database. Reports accepted events per second at the API, the rate at which they
/// landed, and zero loss (accepted = rows = idempotency keys = rollup requests).
/// </summary>
public static class IngestBench
{
    private sealed record Result(
        string Database, int Clients, int Batches, long Sent, long Accepted, long Other, TimeSpan Api, Percentiles BatchMs, TimeSpan Landed,
        long Rows, long Keys, long DailyRequests, CpuUse Cpu, TimeSpan Setup);

    public static async Task RunAsync(string[] command)
    {
        var args = new BenchArgs(command[1..]);
        var providers = args.Providers();
        var seconds = args.Option("seconds", 20.0);
        var clients = args.Option("clients", 4);
        var batchSize = args.Option("batch", 1000);
        var consumers = args.Option("consumers", 200);
        args.EnsureAllUsed();

        Preamble.Print("Usage ingest: POST /api/v1/events/batch over HTTP (Lago-compatible) → spool → database", command);
        var results = new List<Result>();
        var databases = new List<string>();
        foreach (var provider in providers)
        {
            results.Add(await RunOnceAsync(provider, TimeSpan.FromSeconds(seconds), clients, batchSize, consumers, databases));
        }

        Console.WriteLine($"Setup through the HTTP API: a publisher, a usage-priced (graduated) package listing, {consumers} consumers each registered, signed in and subscribed. " +
            $"Load: {clients} concurrent clients (one HttpClient, keep-alive), each posting {batchSize:N0}-event batches back to back for {seconds:0} s with the publisher's API key; " +
            "every event has a unique transaction_id, a random subscription, a timestamp within the last 30 s and log-normal token counts.");
        foreach (var d in databases.Distinct())
        {
            Console.WriteLine($"Database: {d}");
        }

        Console.WriteLine();
        var table = new MarkdownTable("Database", "Clients", "Batches", "Events sent", "Accepted", "API time", "**Accepted at the API**", "Batch p50 / p99",
            "Until all in the database", "**Landed rate**", "Rows / keys / rollup requests", "Lost");
        foreach (var r in results)
        {
            var lost = r.Accepted - r.Rows;
            var exact = r.Rows == r.Accepted && r.Keys == r.Accepted && r.DailyRequests == r.Accepted && r.Other == 0;
            table.Add(r.Database, r.Clients, r.Batches, r.Sent, r.Accepted, Rate.Seconds(r.Api), $"**{Rate.PerSecond(r.Accepted, r.Api)}**",
                $"{Ms.Of(r.BatchMs.P50)} / {Ms.Of(r.BatchMs.P99)}", Rate.Seconds(r.Landed), $"**{Rate.PerSecond(r.Accepted, r.Landed)}**",
                $"{r.Rows:N0} / {r.Keys:N0} / {r.DailyRequests:N0}", exact ? "**0** ✓" : $"**{lost} ✗** ({r.Other} not accepted)");
        }

        table.Print();
        var cpu = new MarkdownTable("Database", "Process CPU (clients + host)", "PostgreSQL CPU", "CPU per accepted event", "Rate if both cores were ours", "Other processes' share of the machine", "Load average", "Setup time");
        foreach (var r in results)
        {
            cpu.Add(r.Database, $"{r.Cpu.Process:0.0} s", r.Database == "SQLite" ? "(in process)" : $"{r.Cpu.Database:0.0} s", r.Cpu.MicrosecondsPer(r.Accepted),
                r.Cpu.CpuBoundRate(r.Accepted), r.Cpu.OthersShare, r.Cpu.LoadAverage.ToString("0.0", CultureInfo.InvariantCulture), Rate.Seconds(r.Setup));
        }

        cpu.Print();
        Console.WriteLine("`Landed rate` = accepted events ÷ time from the first request until `UsageShipper.Pending == 0` (every accepted event committed). " +
            "The CPU figures cover the load phase and the drain (clients, host and database share the machine).");
    }

    private static async Task<Result> RunOnceAsync(BenchProvider provider, TimeSpan duration, int clients, int batchSize, int consumerCount, List<string> databases)
    {
        await using var database = await BenchDatabase.CreateAsync(provider);
        databases.Add(await database.DescribeAsync());
        await using var host = await BenchHost.CreateAsync(database, listen: true);
        using var api = new MarketplaceApi(host.BaseAddress);

        var setup = Stopwatch.StartNew();
        Preamble.Progress($"ingest {database.Name}: setting up a publisher and {consumerCount} subscribed consumers through the API");
        var publisher = await api.RegisterAsync("ingestpub", withKey: true);
        var server = publisher.Namespace + "/batch-tool";
        await api.PublishPackageAsync(publisher, server, "Batch tool");
        await api.SetPricingAsync(publisher, server);
        var subscriptions = new Guid[consumerCount];
        await MarketplaceApi.ForEachAsync(Enumerable.Range(0, consumerCount), 4, async i =>
        {
            var consumer = await api.RegisterAsync($"ingestcon{i}", withKey: false);
            subscriptions[i] = await api.SubscribeAsync(consumer, server);
        });
        setup.Stop();

        var shipper = host.Service<UsageShipper>();
        var http = api.CreateClient(publisher.Key, connections: clients);
        long sent = 0, accepted = 0, other = 0;
        var batches = 0;
        var latencies = new List<double>();
        Preamble.Progress($"ingest {database.Name}: {clients} clients for {duration.TotalSeconds:0} s");
        var account = await CpuAccount.StartAsync(database);
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var progress = new Timer(_ => Preamble.Progress($"ingest {database.Name}: accepted {Interlocked.Read(ref accepted):N0}, pending in spool {shipper.Pending:N0}"), null, 5000, 5000);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(c + 1);
            var local = new List<double>();
            for (var b = 0; Stopwatch.GetTimestamp() < deadline; b++)
            {
                var body = Batch(random, subscriptions, c, b, batchSize);
                var before = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var response = await http.PostAsync("/api/v1/events/batch", content);
                var text = await response.Content.ReadAsStringAsync();
                local.Add(Ms.Since(before));
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"batch answered {(int)response.StatusCode}: {text[..Math.Min(500, text.Length)]}");
                }

                var n = AcceptedCount(text);
                Interlocked.Add(ref sent, batchSize);
                Interlocked.Add(ref accepted, n);
                Interlocked.Add(ref other, batchSize - n);
                Interlocked.Increment(ref batches);
            }

            lock (latencies)
            {
                latencies.AddRange(local);
            }
        })));
        var apiTime = Stopwatch.GetElapsedTime(start);
        while (shipper.Pending > 0)
        {
            await Task.Delay(5);
        }

        var landed = Stopwatch.GetElapsedTime(start);
        var cpu = await account.StopAsync();
        Preamble.Progress($"ingest {database.Name}: {accepted:N0} accepted in {apiTime.TotalSeconds:0.0} s, all in the database after {landed.TotalSeconds:0.0} s; verifying");
        var rows = await database.ScalarAsync("SELECT count(*) FROM usage_events WHERE source = 'ingest'");
        var keys = await database.ScalarAsync("SELECT count(*) FROM ingest_keys");
        var daily = await database.ScalarAsync("SELECT sum(requests) FROM usage_daily");
        return new Result(database.Name, clients, batches, sent, accepted, other, apiTime, Percentiles.Of(latencies), landed, rows, keys, daily, cpu, setup.Elapsed);
    }

    /// <summary>A batch body in Lago's shape: unique transaction ids, random subscriptions, timestamps within the last 30 s.</summary>
    private static byte[] Batch(Random random, Guid[] subscriptions, int client, int batch, int size)
    {
        var now = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
        var json = new StringBuilder(size * 220);
        json.Append("{\"events\":[");
        for (var i = 0; i < size; i++)
        {
            var input = 50 + random.Next(2000);
            var output = 20 + random.Next(6000);
            json.Append(i == 0 ? "" : ",")
                .Append(CultureInfo.InvariantCulture, $"{{\"transaction_id\":\"run-{client}-{batch}-{i}\",\"external_subscription_id\":\"{subscriptions[random.Next(subscriptions.Length)]}\",")
                .Append(CultureInfo.InvariantCulture, $"\"code\":\"mcp_tokens\",\"timestamp\":{now - random.NextDouble() * 30:0.000},")
                .Append(CultureInfo.InvariantCulture, $"\"properties\":{{\"tokens_input\":{input},\"tokens_output\":{output},\"total_tokens\":{input + output}}}}}");
        }

        json.Append("]}");
        return Encoding.UTF8.GetBytes(json.ToString());
    }

    /// <summary>The top-level <c>"accepted": n</c> (after the events array; per-event statuses are <c>"status":"accepted"</c>).</summary>
    private static int AcceptedCount(string response)
    {
        var at = response.LastIndexOf("\"accepted\":", StringComparison.Ordinal) + "\"accepted\":".Length;
        var end = at;
        while (end < response.Length && char.IsDigit(response[end]))
        {
            end++;
        }

        return int.Parse(response.AsSpan(at, end - at), CultureInfo.InvariantCulture);
    }
}
