using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Data.Sqlite;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering.Spool;
using Xunit.Abstractions;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>
/// The guarantee the usage pipeline exists for: kill the host with SIGKILL while requests are in flight, start it
/// again, and every request whose response the client received completely is billed exactly once.
/// </summary>
public sealed class CrashRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private const int Workers = 16;
    private readonly TempFolder _folder = new("crash");

    public void Dispose() => _folder.Dispose();

    /// <param name="databaseBusy">
    /// True: a writer in the test process holds SQLite's write lock during the traffic, so nothing can be shipped and
    /// every event is still only in the spool when the host dies (the backlog path). False: the shipper runs freely and
    /// the kill lands wherever it lands (mid-batch, between commit and checkpoint, …).
    /// </param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SigkillMidTraffic_EveryCompletelyReceivedResponseIsBilledExactlyOnce(bool databaseBusy)
    {
        var clock = Stopwatch.StartNew();
        var database = _folder.File("crash.db");
        var spoolFolder = _folder.File("spool");
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings__Sqlite"] = $"Data Source={database}",
            ["Usage__Spool__Directory"] = spoolFolder,
            ["Demo__Seed"] = "false",
            ["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true",
            ["Gateway__MasterKeyFile"] = _folder.File("master.key"),
            ["Gateway__RequestsPerSecondPerKey"] = "100000",
            ["Gateway__BurstPerKey"] = "100000",
            ["Gateway__CatalogRefreshInterval"] = "00:00:00.200",
            ["Demo__CredentialsFile"] = _folder.File("demo.json"),
        };

        await using var upstream = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        var host = await MarketplaceProcess.StartAsync(settings, TimeSpan.FromSeconds(60));
        var requests = new ConcurrentBag<Attempt>();
        try
        {
            output.WriteLine($"host pid {host.Id} healthy after {clock.ElapsedMilliseconds} ms");
            var publisherKey = await CreateUserAsync(host, "crashpub");
            var consumerKey = await CreateUserAsync(host, "crashcon");
            const string server = "com.ultrarepo.crashpub/crash";
            await PublishAsync(host, publisherKey, server, upstream.StreamableEndpoint);

            using var http = NewClient(host);
            // Warms the caches on the request path (key, entitlement, first-use subscription, budgets) before the database is locked.
            var warm = await CallAsync(http, server, consumerKey, 1, CancellationToken.None);
            Assert.True(warm.Complete, $"the warm-up call failed: {warm.Status} {warm.Error}");
            requests.Add(warm);

            await using var writeLock = databaseBusy ? await LockDatabaseAsync(database) : null;
            var nextId = 1;
            var stop = false;
            var traffic = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
            {
                while (!Volatile.Read(ref stop))
                {
                    requests.Add(await CallAsync(http, server, consumerKey, Interlocked.Increment(ref nextId), CancellationToken.None));
                }
            })).ToList();

            var trafficStarted = Stopwatch.StartNew();
            while (trafficStarted.ElapsedMilliseconds < 1500 && (trafficStarted.ElapsedMilliseconds < 500 || requests.Count(r => r.Complete) < 200))
            {
                await Task.Delay(20);
            }

            // Kill first, stop the workers after: requests are in flight when the signal lands.
            var killedAt = Stopwatch.GetTimestamp();
            host.Kill();
            var killTook = Stopwatch.GetElapsedTime(killedAt);
            Volatile.Write(ref stop, true);
            await Task.WhenAll(traffic);
            var cut = requests.Count(r => !r.Complete && r.Started < killedAt);
            output.WriteLine($"killed after {trafficStarted.ElapsedMilliseconds} ms of traffic (Kill took {killTook.TotalMilliseconds:0} ms); {cut} requests sent before the kill did not complete");

            if (writeLock is not null)
            {
                await writeLock.DisposeAsync();
            }

            var spooled = ReadSpool(spoolFolder, out var checkpoint);
            var backlog = spooled.Where(s => s.Position >= checkpoint).Select(s => s.Id).ToHashSet();
            var storedBeforeRestart = StoredEvents(database);
            output.WriteLine($"spool: {spooled.Count} events in segments, {backlog.Count} after checkpoint {checkpoint}; database before restart: {storedBeforeRestart.Count}");

            var restarted = await MarketplaceProcess.StartAsync(settings, TimeSpan.FromSeconds(60));
            await using (restarted)
            {
                var deadline = Stopwatch.StartNew();
                while (!backlog.IsSubsetOf(StoredEvents(database).Select(e => e.Id)) && deadline.Elapsed < TimeSpan.FromSeconds(30))
                {
                    await Task.Delay(100);
                }

                using var probe = new HttpClient { BaseAddress = restarted.BaseAddress };
                var metrics = await probe.GetStringAsync("/metrics");
                output.WriteLine(metrics.Split('\n').FirstOrDefault(l => l.StartsWith("usage_spool_depth_events ", StringComparison.Ordinal)) ?? "no spool depth metric");
            }

            var stored = StoredEvents(database);
            var all = requests.ToList();
            var complete = all.Where(r => r.Complete).ToList();
            output.WriteLine($"{all.Count} requests, {complete.Count} complete, {all.Count - complete.Count} failed (cut, or refused once the host was dead); {stored.Count} events stored; {clock.ElapsedMilliseconds} ms in all");

            // The test must have exercised what it claims to.
            Assert.True(complete.Count >= 50, $"only {complete.Count} requests completed before the kill");
            Assert.True(cut > 0, "no request was cut by the kill");
            if (databaseBusy)
            {
                Assert.True(backlog.Count >= complete.Count - 1, $"the spool held only {backlog.Count} unshipped events at the kill");
            }

            // Every unshipped event in the spool reached the database after the restart.
            Assert.Subset(stored.Select(e => e.Id).ToHashSet(), backlog);
            // Never twice: no event id and no JSON-RPC id appears more than once.
            Assert.Equal(stored.Count, stored.Select(e => e.Id).Distinct().Count());
            var duplicates = stored.GroupBy(e => e.JsonRpcId).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicates.Count == 0, $"JSON-RPC ids billed more than once: {string.Join(", ", duplicates)}");
            // Every complete response has its event.
            var billed = stored.Where(e => e.Outcome == "ok").Select(e => e.JsonRpcId).ToHashSet();
            var unbilled = complete.Where(r => !billed.Contains(r.Id.ToString(CultureInfo.InvariantCulture))).Select(r => r.Id).ToList();
            Assert.True(unbilled.Count == 0, $"{unbilled.Count} completely received responses have no usage event: {string.Join(", ", unbilled.Take(20))}");
            // And nothing is billed that was not asked for.
            var sent = all.Select(r => r.Id.ToString(CultureInfo.InvariantCulture)).ToHashSet();
            Assert.All(stored, e => Assert.Contains(e.JsonRpcId ?? "(none)", sent));
        }
        catch
        {
            output.WriteLine("--- host output ---\n" + host.Output);
            throw;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private sealed record Attempt(long Id, long Started, HttpStatusCode? Status, bool Complete, string? Error);

    private sealed record StoredEvent(string Id, string? JsonRpcId, string Outcome);

    private static HttpClient NewClient(MarketplaceProcess host) => new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
    {
        BaseAddress = host.BaseAddress,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>One tools/call; complete only when the status is 200 and the whole body (the echoed text) was read.</summary>
    private static async Task<Attempt> CallAsync(HttpClient http, string server, string key, long id, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp/" + server)
        {
            Content = new StringContent(
                "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"crash test call " + id + "\"}}}",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        HttpStatusCode? status = null;
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            status = response.StatusCode;
            var body = await response.Content.ReadAsStringAsync(ct);
            var complete = status == HttpStatusCode.OK && body.Contains($"crash test call {id}\"", StringComparison.Ordinal);
            return new Attempt(id, started, status, complete, complete ? null : body);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return new Attempt(id, started, status, false, e.GetBaseException().Message);
        }
    }

    private static async Task<string> CreateUserAsync(MarketplaceProcess host, string handle)
    {
        using var cookies = new HttpClient(new HttpClientHandler { UseCookies = true, CookieContainer = new CookieContainer() }) { BaseAddress = host.BaseAddress };
        var email = $"{handle}@example.com";
        const string password = "correct-horse-42";
        (await cookies.PostAsJsonAsync("/api/auth/register", new { email, password, handle })).EnsureSuccessStatusCode();
        (await cookies.PostAsJsonAsync("/api/auth/login", new { email, password })).EnsureSuccessStatusCode();
        var key = await (await cookies.PostAsJsonAsync("/api/keys", new { name = "crash" })).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<CreatedKey>();
        return key!.Key;
    }

    private static async Task PublishAsync(MarketplaceProcess host, string publisherKey, string server, Uri upstream)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", publisherKey);
        var publish = await http.PostAsJsonAsync("/v0.1/publish", new
        {
            name = server,
            description = "crash test",
            version = "1.0.0",
            remotes = new[] { new { type = "streamable-http", url = upstream.ToString() } },
        });
        Assert.True(publish.IsSuccessStatusCode, $"publish: {publish.StatusCode} {await publish.Content.ReadAsStringAsync()}");

        using var anonymous = new HttpClient { BaseAddress = host.BaseAddress };
        for (var i = 0; i < 200; i++)
        {
            if ((await anonymous.PostAsync("/mcp/" + server, new StringContent("{}"))).StatusCode == HttpStatusCode.Unauthorized)
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"the gateway never routed {server}");
    }

    /// <summary>Takes SQLite's write lock (readers go on; the shipper's batch waits) until disposed.</summary>
    private static async Task<SqliteConnection> LockDatabaseAsync(string database)
    {
        var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var begin = connection.CreateCommand();
        begin.CommandText = "BEGIN IMMEDIATE;";
        await begin.ExecuteNonQueryAsync();
        return connection;
    }

    private static List<StoredEvent> StoredEvents(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, json_rpc_id, outcome FROM usage_events";
        using var reader = command.ExecuteReader();
        var events = new List<StoredEvent>();
        while (reader.Read())
        {
            events.Add(new StoredEvent(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2)));
        }

        return events;
    }

    /// <summary>Every whole record in the spool's segments, with where it starts, and the checkpoint as the dead host left them.</summary>
    private static List<(SpoolPosition Position, string Id)> ReadSpool(string folder, out SpoolPosition checkpoint)
    {
        var path = Path.Combine(folder, "checkpoint");
        checkpoint = File.Exists(path)
            ? File.ReadAllText(path).Split(' ') is [var segment, var offset] ? new SpoolPosition(long.Parse(segment, CultureInfo.InvariantCulture), long.Parse(offset, CultureInfo.InvariantCulture)) : default
            : default;
        var records = new List<(SpoolPosition, string)>();
        foreach (var file in Directory.GetFiles(folder, "*.seg").Order(StringComparer.Ordinal))
        {
            var number = long.Parse(Path.GetFileNameWithoutExtension(file), CultureInfo.InvariantCulture);
            var data = File.ReadAllBytes(file);
            var at = 0;
            while (SpoolRecords.TryRead(data.AsSpan(at), out var usage, out var consumed, out _))
            {
                records.Add((new SpoolPosition(number, at), usage!.Id.ToString().ToUpperInvariant()));
                at += consumed;
            }
        }

        return records;
    }

    private sealed record CreatedKey(Guid Id, string Key);
}
