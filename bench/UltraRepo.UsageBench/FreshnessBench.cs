using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>freshness</c>: event-to-dashboard freshness through the gateway. A fake upstream MCP server, a free
/// listing for it, and a consumer calling <c>tools/call</c> through <c>/mcp/&lt;ns&gt;/&lt;name&gt;</c> at a constant
/// rate with unique JSON-RPC ids. A poller reads <c>GET /api/consumer/usage/events</c> (newest first, paging back
/// with <c>before</c> until it reaches events it has seen) every few milliseconds; each request's freshness is
/// the time from the end of its response to the end of the first poll that returned its event.
/// </summary>
public static class FreshnessBench
{
    private sealed record Result(string Database, int Sent, int Errors, double AchievedRate, Percentiles Gateway, Percentiles Freshness, int Seen, int Early, int Polls, Percentiles PollMs, CpuUse Cpu);

    public static async Task RunAsync(string[] command)
    {
        var args = new BenchArgs(command[1..]);
        var providers = args.Providers();
        var seconds = args.Option("seconds", 20.0);
        var rate = args.Option("rate", 200.0);
        var pollMs = args.Option("poll-ms", 5);
        var pageSize = args.Option("page", 50);
        args.EnsureAllUsed();

        Preamble.Print("Usage freshness: gateway request → visible in GET /api/consumer/usage/events (issue goal: p99 ≤ 2 s)", command);
        var results = new List<Result>();
        var databases = new List<string>();
        foreach (var provider in providers)
        {
            results.Add(await RunOnceAsync(provider, TimeSpan.FromSeconds(seconds), rate, pollMs, pageSize, databases));
        }

        Console.WriteLine($"Load: JSON-RPC tools/call through the gateway at {rate:0} requests/s (open loop) for {seconds:0} s to a free listing whose upstream is an in-process fake MCP server " +
            $"(application/json). Poller: GET /api/consumer/usage/events?limit={pageSize} every {pollMs} ms (next poll starts {pollMs} ms after the previous ended), paging back with `before` until it meets seen events; matched by jsonRpcId.");
        foreach (var d in databases.Distinct())
        {
            Console.WriteLine($"Database: {d}");
        }

        Console.WriteLine();
        var table = new MarkdownTable("Database", "Requests", "Errors", "Achieved rate", "Gateway p50 / p99", "Events seen", "**Freshness p50**", "**p99**", "**max**", "Polls (p50 / p99 duration)");
        foreach (var r in results)
        {
            table.Add(r.Database, r.Sent, r.Errors, $"{r.AchievedRate:0}/s", $"{Ms.Of(r.Gateway.P50)} / {Ms.Of(r.Gateway.P99)}", $"{r.Seen:N0} / {r.Sent:N0}",
                $"**{Ms.Of(r.Freshness.P50)}**", $"**{Ms.Of(r.Freshness.P99)}**", $"**{Ms.Of(r.Freshness.Max)}**", $"{r.Polls:N0} ({Ms.Of(r.PollMs.P50)} / {Ms.Of(r.PollMs.P99)})");
        }

        table.Print();
        var cpu = new MarkdownTable("Database", "Process CPU", "PostgreSQL CPU", "Other processes' share of the machine", "Load average");
        foreach (var r in results)
        {
            cpu.Add(r.Database, $"{r.Cpu.Process:0.0} s", r.Database == "SQLite" ? "(in process)" : $"{r.Cpu.Database:0.0} s", r.Cpu.OthersShare, r.Cpu.LoadAverage.ToString("0.0", CultureInfo.InvariantCulture));
        }

        cpu.Print();
        Console.WriteLine("Freshness includes the poll interval and the poll's own duration (an upper bound on when the event became visible). " +
            $"Events visible before their response had been read completely count as 0 ms ({string.Join(", ", results.Select(r => $"{r.Database}: {r.Early}"))}).");
    }

    private static async Task<Result> RunOnceAsync(BenchProvider provider, TimeSpan duration, double rate, int pollMs, int pageSize, List<string> databases)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var database = await BenchDatabase.CreateAsync(provider);
        databases.Add(await database.DescribeAsync());
        await using var host = await BenchHost.CreateAsync(database, listen: true);
        using var api = new MarketplaceApi(host.BaseAddress);
        var publisher = await api.RegisterAsync("freshpub", withKey: false);
        var server = publisher.Namespace + "/weather";
        await api.PublishRemoteAsync(publisher, server, upstream.Url);
        var consumer = await api.RegisterAsync("freshcon", withKey: true);
        await api.WaitForRouteAsync(server, TimeSpan.FromSeconds(30));

        var gateway = api.CreateClient(consumer.Key, connections: 256);
        var poller = api.CreateClient(consumer.Key, connections: 2);

        // Warm-up: the first call subscribes the consumer to the free listing; JIT and pools warm up.
        for (var i = 0; i < 50; i++)
        {
            await CallAsync(gateway, server, $"warm-{i}");
        }

        var count = (int)(duration.TotalSeconds * rate);
        var ended = new long[count];
        var seen = new long[count];
        var gatewayMs = new double[count];
        var errors = 0;
        var early = 0;
        var seenCount = 0;
        var known = new ConcurrentDictionary<string, bool>();
        var pollDurations = new List<double>();
        var polls = 0;
        using var stopPolling = new CancellationTokenSource();

        Preamble.Progress($"freshness {database.Name}: {count:N0} gateway requests at {rate:0}/s");
        var account = await CpuAccount.StartAsync(database);
        var pollTask = Task.Run(async () =>
        {
            // Drain the warm-up events first, so the poller only chases the measured ones.
            while (!stopPolling.IsCancellationRequested)
            {
                var before = (string?)null;
                var fresh = 0;
                var pollStart = Stopwatch.GetTimestamp();
                var done = false;
                while (!done)
                {
                    using var response = await poller.GetAsync($"/api/consumer/usage/events?limit={pageSize}" + (before is null ? "" : "&before=" + before));
                    var now = Stopwatch.GetTimestamp();
                    response.EnsureSuccessStatusCode();
                    using var page = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
                    var events = page.RootElement.GetProperty("events");
                    var anyKnown = false;
                    foreach (var e in events.EnumerateArray())
                    {
                        // The usage event keeps the id's raw JSON text: "\"f-12\"" for the string id f-12.
                        var id = (e.GetProperty("jsonRpcId").GetString() ?? "").Trim('"');
                        if (!known.TryAdd(id, true))
                        {
                            anyKnown = true;
                            continue;
                        }

                        fresh++;
                        if (id.StartsWith("f-", StringComparison.Ordinal) && int.TryParse(id.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < count)
                        {
                            seen[n] = now;
                            Interlocked.Increment(ref seenCount);
                        }
                    }

                    before = page.RootElement.TryGetProperty("nextBefore", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
                    done = anyKnown || before is null || events.GetArrayLength() == 0;
                }

                pollDurations.Add(Ms.Since(pollStart));
                polls++;
                await Task.Delay(pollMs);
            }
        });

        var start = Stopwatch.GetTimestamp();
        var interval = Stopwatch.Frequency / rate;
        var inflight = new List<Task>(count);
        for (var n = 0; n < count; n++)
        {
            var due = start + (long)(n * interval);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            var index = n;
            inflight.Add(Task.Run(async () =>
            {
                var sent = Stopwatch.GetTimestamp();
                try
                {
                    await CallAsync(gateway, server, $"f-{index}");
                    ended[index] = Stopwatch.GetTimestamp();
                    gatewayMs[index] = Ms.Between(sent, ended[index]);
                }
                catch (Exception e) when (e is HttpRequestException or InvalidOperationException)
                {
                    Interlocked.Increment(ref errors);
                    gatewayMs[index] = double.NaN;
                }
            }));
        }

        await Task.WhenAll(inflight);
        var sendTime = Stopwatch.GetElapsedTime(start);
        var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
        while (Volatile.Read(ref seenCount) < count - errors && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(20);
        }

        await stopPolling.CancelAsync();
        await pollTask;
        var cpu = await account.StopAsync();

        var freshness = new List<double>();
        for (var n = 0; n < count; n++)
        {
            if (seen[n] == 0 || ended[n] == 0)
            {
                continue;
            }

            var ms = Ms.Between(ended[n], seen[n]);
            if (ms < 0)
            {
                early++;
                ms = 0;
            }

            freshness.Add(ms);
        }

        Preamble.Progress($"freshness {database.Name}: {freshness.Count:N0} of {count:N0} events seen");
        return new Result(database.Name, count, errors, count / sendTime.TotalSeconds, Percentiles.Of(gatewayMs.Where(d => !double.IsNaN(d)).ToList()),
            Percentiles.Of(freshness), seenCount, early, polls, Percentiles.Of(pollDurations), cpu);
    }

    private static async Task CallAsync(HttpClient gateway, string server, string id)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp/" + server)
        {
            Content = new StringContent(
                "{\"jsonrpc\":\"2.0\",\"id\":\"" + id + "\",\"method\":\"tools/call\",\"params\":{\"name\":\"get_forecast\",\"arguments\":{\"city\":\"Lisbon\",\"days\":2}}}",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await gateway.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.ReadAsByteArrayAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"gateway answered {(int)response.StatusCode}");
        }
    }
}
