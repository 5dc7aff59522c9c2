using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Lago;
using UltraRepo.Metering;

namespace UltraRepo.Host.Tests.Lago;

/// <summary>
/// The Lago sync end to end: a real marketplace (gateway traffic and Lago-style ingest through the real usage
/// pipeline) forwarding to the Lago stand-in on a real port, and the admin plan export.
/// </summary>
public sealed class LagoSyncTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/upstream";
    private const string PlanCode = "ultrarepo-com-ultrarepo-alice-upstream";
    private static readonly TimeSpan RetryBaseDelay = TimeSpan.FromMilliseconds(20);
    private readonly string _spool = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "lago-spool-" + Guid.NewGuid().ToString("N"));
    private LagoStandIn _lago = null!;
    private GatewayTestbed? _bed;

    /// <summary>The demo listing's price list: 0–100K tokens at 0.002/1K, to 1M at 0.0015/1K, above at 0.001/1K.</summary>
    private static object SeedPricing(string? minimumMonthlySpend = null) => new
    {
        model = "usage",
        currency = "USD",
        usage = new
        {
            chargeModel = "graduated",
            tiers = new object[] { new { upTo = 100_000, pricePer1k = "0.002" }, new { upTo = 1_000_000, pricePer1k = "0.0015" }, new { upTo = (long?)null, pricePer1k = "0.001" } },
            minimumMonthlySpend,
        },
    };

    public async Task InitializeAsync() => _lago = await LagoStandIn.StartAsync();

    public async Task DisposeAsync()
    {
        if (_bed is not null)
        {
            await _bed.DisposeAsync();
        }

        await _lago.DisposeAsync();
        if (Directory.Exists(_spool))
        {
            Directory.Delete(_spool, recursive: true);
        }
    }

    private void LagoOn(Dictionary<string, string?> settings)
    {
        settings["Lago:ApiUrl"] = _lago.BaseAddress.ToString();
        settings["Lago:ApiKey"] = LagoStandIn.ApiKey;
        settings["Lago:SpoolDirectory"] = _spool;
        settings["Lago:RetryBaseDelay"] = RetryBaseDelay.ToString();
        settings["Lago:MaxRetryDelay"] = "00:00:00.200";
    }

    /// <summary>The marketplace with alice's listing at the seed price and bob subscribed; returns bob's subscription id.</summary>
    private async Task<string> StartMarketplaceAsync(Action<Dictionary<string, string?>> settings)
    {
        _bed = await GatewayTestbed.StartAsync(configure: settings);
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        await _bed.SetPricingAsync(Server, SeedPricing());
        var subscribed = await _bed.Consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server = Server });
        subscribed.EnsureSuccessStatusCode();
        return (string)(await subscribed.ReadJsonAsync())["id"]!;
    }

    /// <summary>The publisher reports usage of bob's subscription through the Lago-compatible ingest API.</summary>
    private async Task IngestAsync(string subscription, int count)
    {
        var now = _bed!.App.Clock.GetUtcNow().ToUnixTimeSeconds();
        var events = Enumerable.Range(0, count).Select(i => new
        {
            transaction_id = $"publisher-{i}",
            external_subscription_id = subscription,
            code = "mcp_tokens",
            timestamp = now,
            properties = new { tokens_input = 10 + i, tokens_output = 5 },
        });
        var response = await _bed.Publisher.Api.PostAsJsonAsync("/api/v1/events/batch", new { events });
        response.EnsureSuccessStatusCode();
        Assert.Equal(count, (int)(await response.ReadJsonAsync())["accepted"]!);
    }

    private async Task CallToolsAsync(int count)
    {
        await using var client = await _bed!.ConnectAsync(Server);
        for (var i = 0; i < count; i++)
        {
            await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = $"call {i}" });
        }
    }

    /// <summary>Every usage event once all of them are in the database.</summary>
    private async Task<List<UsageEvent>> StoredEventsAsync()
    {
        await _bed!.SettledAsync();
        using var scope = _bed.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<MarketplaceDb>().UsageEvents.AsNoTracking().ToListAsync();
    }

    private async Task WaitUntilForwardedAsync(IReadOnlyCollection<string> transactionIds)
    {
        await _lago.WaitForEventsAsync(transactionIds);
        var forwarder = _bed!.App.Services.GetRequiredService<LagoForwarder>();
        for (var i = 0; i < 500 && forwarder.Pending > 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, forwarder.Pending);
    }

    private static JsonObject Expected(UsageEvent e)
    {
        var milliseconds = new DateTimeOffset(DateTime.SpecifyKind(e.Timestamp, DateTimeKind.Utc)).ToUnixTimeMilliseconds();
        return new JsonObject
        {
            ["transaction_id"] = e.Id.ToString(),
            ["external_subscription_id"] = e.SubscriptionId.ToString(),
            ["code"] = "mcp_tokens",
            ["timestamp"] = (milliseconds / 1000m).ToString("0.000", CultureInfo.InvariantCulture),
            ["properties"] = new JsonObject { ["tokens_input"] = e.InputTokens, ["tokens_output"] = e.OutputTokens, ["total_tokens"] = e.TotalTokens },
        };
    }

    private static List<JsonObject> SentEvents(IEnumerable<LagoRequest> calls) =>
        calls.SelectMany(c => c.Body!["events"]!.AsArray().Cast<JsonObject>()).ToList();

    [Fact]
    public async Task ShippedUsage_ReachesLagoInBatchesOfAtMost100_InLagosEventShape()
    {
        var subscription = await StartMarketplaceAsync(LagoOn);
        await IngestAsync(subscription, 250);
        await CallToolsAsync(3);
        var carol = await _bed!.App.CreateUserAsync("carol");
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", carol)).StatusCode);

        var stored = await StoredEventsAsync();
        var expected = stored.Where(e => e.IsBillable && e.SubscriptionId is not null).ToList();
        Assert.Contains(stored, e => e.Outcome == UsageOutcome.Denied);
        Assert.True(expected.Count >= 253, $"{expected.Count} billable events");
        await WaitUntilForwardedAsync(expected.Select(e => e.Id.ToString()).ToList());

        var calls = _lago.BatchCalls.ToList();
        Assert.All(calls, call =>
        {
            Assert.Equal(("POST", 200), (call.Method, call.Status));
            Assert.Equal("Bearer " + LagoStandIn.ApiKey, call.Authorization);
            Assert.StartsWith("application/json", call.ContentType);
            Assert.Equal(["events"], call.Body!.AsObject().Select(p => p.Key));
            Assert.InRange(call.Body["events"]!.AsArray().Count, 1, 100);
        });
        Assert.Equal(100, calls.Max(c => c.Body!["events"]!.AsArray().Count));
        Assert.Equal(expected.Select(e => e.Id.ToString()).Order(), _lago.Events.Keys.Order());
        Assert.Equal(expected.Count, SentEvents(calls).Count);
        foreach (var e in expected)
        {
            var sent = _lago.Events[e.Id.ToString()];
            Assert.True(JsonNode.DeepEquals(Expected(e), sent), $"expected {Expected(e).ToJsonString()}\nsent     {sent.ToJsonString()}");
        }

        Assert.Contains(_lago.Events.Values, e => (long)e["properties"]!["tokens_input"]! == 10 + 249 && (long)e["properties"]!["total_tokens"]! == 10 + 249 + 5);
        var metrics = await _bed.App.CreateClient().GetStringAsync("/metrics");
        Assert.Contains("lago_events_delivered_total", metrics);
        Assert.Contains("lago_backlog_events", metrics);
    }

    [Fact]
    public async Task LagoFailures_AreRetriedWithBackoff_UntilEveryEventIsDelivered_ResentOnlyUnderTheSameTransactionId()
    {
        var subscription = await StartMarketplaceAsync(LagoOn);
        _lago.FailNext(2, 500);
        _lago.FailNext(1, 429, retryAfterSeconds: 1);
        // Lago stores the batch but the answer is lost: the retry finds every transaction already there.
        _lago.StoreThenFailNext(502);
        _lago.FailNext(1, 503);

        await IngestAsync(subscription, 150);
        await CallToolsAsync(2);
        var expected = (await StoredEventsAsync()).Where(e => e.IsBillable && e.SubscriptionId is not null).ToList();
        await WaitUntilForwardedAsync(expected.Select(e => e.Id.ToString()).ToList());

        var calls = _lago.BatchCalls.ToList();
        Assert.Equal([500, 500, 429, 502, 503, 422], calls.Take(6).Select(c => c.Status));
        Assert.All(calls.Skip(6), c => Assert.Equal(200, c.Status));
        Assert.True(calls[1].ArrivedAt - calls[0].ArrivedAt >= RetryBaseDelay * 0.9, "backoff after a 500");
        Assert.True(calls[3].ArrivedAt - calls[2].ArrivedAt >= TimeSpan.FromSeconds(0.95), $"Retry-After: 1 honoured ({(calls[3].ArrivedAt - calls[2].ArrivedAt).TotalMilliseconds} ms)");
        Assert.All(calls.Take(6), c => Assert.True(JsonNode.DeepEquals(calls[0].Body, c.Body), "a retry resends the same batch"));

        Assert.Equal(expected.Select(e => e.Id.ToString()).Order(), _lago.Events.Keys.Order());
        var sent = SentEvents(calls);
        Assert.Equal(expected.Select(e => e.Id.ToString()).Order(), sent.Select(e => (string)e["transaction_id"]!).Distinct().Order());
        Assert.All(sent.GroupBy(e => (string)e["transaction_id"]!), resent => Assert.All(resent, e => Assert.True(JsonNode.DeepEquals(resent.First(), e))));
        var forwarder = _bed!.App.Services.GetRequiredService<LagoForwarder>();
        Assert.Equal((expected.Count, 0L), (forwarder.Delivered, forwarder.Dropped));
    }

    [Theory]
    [InlineData("url only")]
    [InlineData("key only")]
    [InlineData("neither")]
    public async Task WithoutBothUrlAndKey_NothingIsRegisteredAndNothingIsSent(string configured)
    {
        var subscription = await StartMarketplaceAsync(settings =>
        {
            settings["Lago:SpoolDirectory"] = _spool;
            if (configured == "url only")
            {
                settings["Lago:ApiUrl"] = _lago.BaseAddress.ToString();
            }
            else if (configured == "key only")
            {
                settings["Lago:ApiKey"] = LagoStandIn.ApiKey;
            }
        });
        await IngestAsync(subscription, 20);
        await CallToolsAsync(2);
        Assert.Contains(await StoredEventsAsync(), e => e.IsBillable);
        var admin = await _bed!.App.CreateAdminAsync();

        var export = await admin.Api.PostAsync($"/api/admin/lago/plans/{Uri.EscapeDataString(Server)}", null);

        Assert.Equal(HttpStatusCode.NotFound, export.StatusCode);
        Assert.Contains("Lago sync is off", (string?)(await export.ReadJsonAsync())["detail"]);
        Assert.Null(_bed.App.Services.GetService<LagoForwarder>());
        Assert.Null(_bed.App.Services.GetService<LagoClient>());
        Assert.Empty(_bed.App.Services.GetServices<IShippedUsageObserver>());
        await Task.Delay(300);
        Assert.Empty(_lago.Requests);
        Assert.False(Directory.Exists(_spool), "no Lago spool is created");
    }

    [Theory]
    [InlineData("Lago:ApiUrl", "api.getlago.com")]
    [InlineData("Lago:BatchSize", "101")]
    public void InvalidSettings_StopTheStartWithWhatToFix(string key, string value)
    {
        using var app = new MarketplaceApp(configure: settings =>
        {
            LagoOn(settings);
            settings[key] = value;
        });

        var error = Assert.ThrowsAny<Exception>(() => app.Services);

        Assert.Contains(key, error.ToString());
        Assert.False(Directory.Exists(_spool));
    }

    [Fact]
    public async Task PlanExport_SendsTheSeedPlansGraduatedRanges_ThenUpdatesThePlanInPlace()
    {
        await StartMarketplaceAsync(LagoOn);
        var admin = await _bed!.App.CreateAdminAsync();
        var url = $"/api/admin/lago/plans/{Uri.EscapeDataString(Server)}";
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.Publisher.Api.PostAsync(url, null)).StatusCode);

        var response = await admin.Api.PostAsync(url, null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var exported = await response.ReadJsonAsync();
        Assert.Equal(("created", PlanCode), ((string?)exported["action"], (string?)exported["planCode"]));
        var metricId = (string)_lago.BillableMetrics["mcp_tokens"]["lago_id"]!;
        Assert.Equal(metricId, (string?)exported["billableMetric"]!["lago_id"]);
        Assert.Equal((string?)_lago.Plans[PlanCode]["lago_id"], (string?)exported["plan"]!["lago_id"]);
        var calls = _lago.Requests.Where(r => r.Path != "/api/v1/events/batch").ToList();
        Assert.Equal(
            [("GET", "/api/v1/billable_metrics/mcp_tokens", 404), ("POST", "/api/v1/billable_metrics", 200), ("GET", "/api/v1/plans/" + PlanCode, 404), ("POST", "/api/v1/plans", 200)],
            calls.Select(c => (c.Method, c.Path, c.Status)));
        Assert.All(calls, c => Assert.Equal("Bearer " + LagoStandIn.ApiKey, c.Authorization));
        var metric = calls[1].Body!["billable_metric"]!;
        Assert.Equal(("mcp_tokens", "sum_agg", "total_tokens"), ((string?)metric["code"], (string?)metric["aggregation_type"], (string?)metric["field_name"]));
        var plan = calls[3].Body!["plan"]!.AsObject();
        Assert.Equal((PlanCode, Server, "monthly", 0, "USD", false),
            ((string?)plan["code"], (string?)plan["name"], (string?)plan["interval"], (int)plan["amount_cents"]!, (string?)plan["amount_currency"], (bool)plan["pay_in_advance"]!));
        Assert.False(plan.ContainsKey("minimum_commitment"));
        var charge = plan["charges"]!.AsArray().Single()!;
        Assert.Equal((metricId, "graduated"), ((string?)charge["billable_metric_id"], (string?)charge["charge_model"]));
        var ranges = JsonNode.Parse("""
            [
              {"from_value":0,"to_value":100000,"per_unit_amount":"0.000002","flat_amount":"0"},
              {"from_value":100001,"to_value":1000000,"per_unit_amount":"0.0000015","flat_amount":"0"},
              {"from_value":1000001,"to_value":null,"per_unit_amount":"0.000001","flat_amount":"0"}
            ]
            """);
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["graduated_ranges"] = ranges }, charge["properties"]), charge["properties"]!.ToJsonString());

        // A new price (with a minimum spend) exported again edits the same plan and charge.
        var chargeId = (string?)_lago.Plans[PlanCode]["charges"]![0]!["lago_id"];
        _bed.App.Clock.Advance(TimeSpan.FromMinutes(1));
        await _bed.SetPricingAsync(Server, SeedPricing(minimumMonthlySpend: "10.00"));
        var again = await admin.Api.PostAsync(url, null);

        Assert.Equal("updated", (string?)(await again.ReadJsonAsync())["action"]);
        var update = _lago.Requests.Where(r => r.Path != "/api/v1/events/batch").Skip(4).ToList();
        Assert.Equal(
            [("GET", "/api/v1/billable_metrics/mcp_tokens", 200), ("GET", "/api/v1/plans/" + PlanCode, 200), ("PUT", "/api/v1/plans/" + PlanCode, 200)],
            update.Select(c => (c.Method, c.Path, c.Status)));
        var updated = update[2].Body!["plan"]!;
        Assert.Equal(chargeId, (string?)updated["charges"]![0]!["id"]);
        Assert.True(JsonNode.DeepEquals(ranges, updated["charges"]![0]!["properties"]!["graduated_ranges"]));
        Assert.Equal(1000, (int)updated["minimum_commitment"]!["amount_cents"]!);
        Assert.Contains("\"/api/admin/lago/plans/{serverName}\"", await _bed.App.CreateClient().GetStringAsync("/openapi/v1.json"));
    }
}
