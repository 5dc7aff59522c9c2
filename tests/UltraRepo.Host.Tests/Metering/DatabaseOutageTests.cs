using System.Net;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using Npgsql;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering;
using Xunit.Abstractions;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>
/// PostgreSQL goes away under a running gateway: calls keep working, their events wait in the spool, and once the
/// database is back every one of them arrives, once.
/// </summary>
public sealed class DatabaseOutageTests(ITestOutputHelper output)
{
    private const string Server = "com.ultrarepo.alice/outage";

    [Fact]
    public async Task PostgresOutage_CallsSucceed_EventsWaitInTheSpool_ThenArriveExactlyOnce()
    {
        await using var bed = await GatewayTestbed.StartAsync(Provider.Postgres, upstream: o => o.Stateless = true);
        await bed.PublishAsync(Server, bed.Upstream.StreamableEndpoint);
        var shipper = bed.App.Service<UsageShipper>();
        var database = new NpgsqlConnectionStringBuilder(bed.App.ConnectionString).Database!;

        await CallAsync(bed, 1);
        await bed.SettledAsync();
        Assert.Equal(1, (await CountByRpcIdAsync(bed.App.ConnectionString)).Values.Sum());

        // Warm the request path's caches (key, entitlement, budgets; they live 5 to 30 s) right before the outage.
        ((MemoryCache)bed.App.Service<IMemoryCache>()).Clear();
        await CallAsync(bed, 2);
        var outage = await DatabaseOutage.BeginAsync(database);
        try
        {
            // Concurrently, to stay well inside the shortest cache lifetime (5 s) even on a slow machine.
            await Task.WhenAll(Enumerable.Range(3, 20).Select(id => CallAsync(bed, id)));

            // The shipper keeps failing; the events stay in the spool.
            await Eventually.WaitUntilAsync(
                () => bed.App.Logs.Lines.Count(l => l.Contains("Shipping usage events failed", StringComparison.Ordinal)) >= 2, TimeSpan.FromSeconds(10));
            Assert.InRange(shipper.Pending, 20, 21);
            // The gauge is process-wide (other test hosts share it), so only its presence is checked here.
            var metrics = await bed.App.CreateClient().GetStringAsync("/metrics");
            Assert.Contains("usage_spool_depth_events ", metrics, StringComparison.Ordinal);

            // The database (reachable by the test under its offline name) has not received any of them.
            var during = await CountByRpcIdAsync(outage.OfflineConnectionString);
            Assert.Subset(new HashSet<string> { "1", "2" }, during.Keys.ToHashSet());
        }
        finally
        {
            await outage.EndAsync();
        }

        await Eventually.WaitUntilAsync(() => shipper.Pending == 0, TimeSpan.FromSeconds(20));
        var counts = await CountByRpcIdAsync(bed.App.ConnectionString);
        Assert.Equal(Enumerable.Range(1, 22).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), counts.Keys.Order());
        Assert.All(counts, c => Assert.Equal(1, c.Value));
        await AssertRollupsCountAsync(bed.App.ConnectionString, 22);
    }

    /// <summary>
    /// The request path caches what it reads from the database for a few seconds (budgets 5 s, entitlements 10 s,
    /// API keys 30 s). An outage longer than that must not stop the gateway either: the last known answers keep
    /// applying. The test clock is moved past every cache's freshness while the database is away.
    /// </summary>
    [Fact]
    public async Task PostgresOutage_LongerThanEveryRequestPathCache_CallsStillSucceed()
    {
        await using var bed = await GatewayTestbed.StartAsync(Provider.Postgres, upstream: o => o.Stateless = true);
        await bed.PublishAsync(Server, bed.Upstream.StreamableEndpoint);
        await CallAsync(bed, 1);
        await bed.SettledAsync();
        var database = new NpgsqlConnectionStringBuilder(bed.App.ConnectionString).Database!;
        Guid consumerId;
        using (var scope = bed.App.Services.CreateScope())
        {
            consumerId = scope.ServiceProvider.GetRequiredService<MarketplaceDb>().Users.Single(u => u.Handle == bed.Consumer.Handle).Id;
        }

        var outage = await DatabaseOutage.BeginAsync(database);
        try
        {
            // Every cached answer on the request path (budgets 5 s, entitlements 10 s, API keys 30 s) is now stale.
            bed.App.Clock.Advance(TimeSpan.FromMinutes(1));

            var response = await bed.PostRpcAsync(Server, EchoCall(2));
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"{(int)response.StatusCode}: {body}");
            var failure = bed.App.Logs.Lines.FirstOrDefault(l => l.Contains("An unhandled exception", StringComparison.Ordinal));
            output.WriteLine(failure is null ? "no unhandled exception" : string.Join('\n', failure.Split('\n').Where(l => l.Contains("UltraRepo.", StringComparison.Ordinal)).Take(6)));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("outage call 2", body, StringComparison.Ordinal);
        }
        finally
        {
            await outage.EndAsync();
        }
    }

    private static string EchoCall(int id) =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"outage call " + id + "\"}}}";

    private async Task CallAsync(GatewayTestbed bed, int id)
    {
        using var response = await bed.PostRpcAsync(Server, EchoCall(id));
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            foreach (var line in bed.App.Logs.Lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)).Take(3))
            {
                output.WriteLine(line);
            }
        }

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"call {id}: {(int)response.StatusCode} {body}");
        Assert.Contains($"outage call {id}\"", body, StringComparison.Ordinal);
    }

    private static async Task<Dictionary<string, int>> CountByRpcIdAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT json_rpc_id, count(*) FROM usage_events WHERE method = 'tools/call' GROUP BY json_rpc_id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var counts = new Dictionary<string, int>();
        while (await reader.ReadAsync())
        {
            counts[reader.GetString(0)] = (int)reader.GetInt64(1);
        }

        return counts;
    }

    private static async Task AssertRollupsCountAsync(string connectionString, long expected)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        foreach (var table in new[] { "usage_hourly", "usage_daily" })
        {
            await using var command = new NpgsqlCommand($"SELECT coalesce(sum(requests), 0)::bigint FROM {table}", connection);
            var requests = (long)(await command.ExecuteScalarAsync())!;
            // Every event so far is a tools/call: the rollups count each exactly once.
            Assert.Equal(expected, requests);
        }
    }

    /// <summary>
    /// Takes a test database away from the host: no new connections, existing ones terminated, and renamed so the
    /// host cannot find it while the test can still look inside it under the new name.
    /// </summary>
    private sealed class DatabaseOutage
    {
        private readonly string _name;
        private readonly string _offline;

        private DatabaseOutage(string name)
        {
            _name = name;
            _offline = name + "_off";
        }

        public string OfflineConnectionString => new NpgsqlConnectionStringBuilder(TestDatabases.PostgresServer) { Database = _offline, Pooling = false }.ConnectionString;

        public static async Task<DatabaseOutage> BeginAsync(string name)
        {
            var outage = new DatabaseOutage(name);
            await Move(name, outage._offline);
            return outage;
        }

        /// <summary>Back under its own name and open to connections (also before the app drops it on dispose).</summary>
        public Task EndAsync() => Move(_offline, _name);

        private static async Task Move(string from, string to)
        {
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabases.PostgresServer) { Pooling = false }.ConnectionString);
            await admin.OpenAsync();
            await Execute(admin, $"ALTER DATABASE {from} WITH ALLOW_CONNECTIONS false");
            for (var attempt = 0; ; attempt++)
            {
                await Execute(admin, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{from}' AND pid <> pg_backend_pid()");
                try
                {
                    await Execute(admin, $"ALTER DATABASE {from} RENAME TO {to}");
                    break;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 50)
                {
                    // A terminated backend has not exited yet.
                    await Task.Delay(50);
                }
            }

            await Execute(admin, $"ALTER DATABASE {to} WITH ALLOW_CONNECTIONS true");
        }

        private static async Task Execute(NpgsqlConnection connection, string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
