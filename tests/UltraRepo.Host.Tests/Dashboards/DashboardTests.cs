using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Dashboards;

public sealed class DashboardTestsOnSqlite() : DashboardTests(Provider.Sqlite);

public sealed class DashboardTestsOnPostgres() : DashboardTests(Provider.Postgres);

/// <summary>Dashboard figures come from rollups; they must equal what the raw events say.</summary>
public abstract class DashboardTests(Provider provider) : IAsyncLifetime
{
    private const string Weather = "com.ultrarepo.alice/weather";
    private const string Notes = "com.ultrarepo.alice/notes";
    private const string Foreign = "com.ultrarepo.dave/foreign";
    private GatewayTestbed _bed = null!;
    private TestUser _carol = null!;
    private TestUser _dave = null!;
    private string _carolWeather = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(provider, upstream: o => o.Stateless = true);
        _carol = await _bed.App.CreateUserAsync("carol");
        _dave = await _bed.App.CreateUserAsync("dave");
        await _bed.PublishAsync(Weather, _bed.Upstream.StreamableEndpoint);
        await _bed.SetPricingAsync(Weather, new { model = "usage", currency = "USD", usage = new { chargeModel = "graduated", tiers = new object[] { new { upTo = 500, pricePer1k = "3" }, new { upTo = (long?)null, pricePer1k = "1.5" } } } });
        await Package(_bed.Publisher, Notes);
        await _bed.SetPricingAsync(Notes, new { model = "usage", currency = "USD", usage = new { pricePer1k = "0.7" } });
        await Package(_dave, Foreign);
        (await _dave.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(Foreign)}/pricing", new { model = "usage", currency = "EUR", usage = new { pricePer1k = "5" } })).EnsureSuccessStatusCode();

        var bobWeather = await Subscribe(_bed.Consumer, Weather);
        var bobNotes = await Subscribe(_bed.Consumer, Notes);
        var carolWeather = _carolWeather = await Subscribe(_carol, Weather);
        var bobForeign = await Subscribe(_bed.Consumer, Foreign);

        // Usage over several days of November, through ingestion (timestamps chosen) and through the gateway.
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 5, 12, 0, 0, TimeSpan.Zero));
        var start = new DateTime(2026, 11, 2, 10, 0, 0, DateTimeKind.Utc);
        await Ingest(_bed.Publisher, bobWeather, start, 300, 100);
        await Ingest(_bed.Publisher, bobWeather, start.AddDays(1), 250, 250);
        await Ingest(_bed.Publisher, carolWeather, start.AddDays(1).AddHours(3), 40, 60);
        await Ingest(_bed.Publisher, bobNotes, start.AddDays(1).AddHours(5), 1000, 111);
        await Ingest(_dave, bobForeign, start.AddHours(2), 77, 23);
        (await _bed.PostRpcAsync(Weather, """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"through the gateway"}}}""")).EnsureSuccessStatusCode();
        await _bed.SettledAsync();
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private static async Task Package(TestUser owner, string name) =>
        (await owner.Api.PostAsJsonAsync("/v0.1/publish", Json.Server(name, packages: new[] { new { registryType = "npm", identifier = "@x/" + name.Split('/')[1], version = "1.0.0", transport = new { type = "stdio" } } })))
            .EnsureSuccessStatusCode();

    private static async Task<string> Subscribe(TestUser consumer, string server) =>
        (string)(await (await consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server })).ReadJsonAsync())["id"]!;

    private static int _transactions;

    private static async Task Ingest(TestUser publisher, string subscription, DateTime at, long input, long output)
    {
        var response = await publisher.Api.PostAsJsonAsync("/api/v1/events", new
        {
            @event = new Dictionary<string, object>
            {
                ["transaction_id"] = "t-" + Interlocked.Increment(ref _transactions),
                ["external_subscription_id"] = subscription,
                ["code"] = "mcp_tokens",
                ["timestamp"] = (long)(at - DateTime.UnixEpoch).TotalSeconds,
                ["properties"] = new Dictionary<string, long> { ["tokens_input"] = input, ["tokens_output"] = output },
            },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<List<UltraRepo.Metering.UsageEvent>> RawAsync()
    {
        using var scope = _bed.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<MarketplaceDb>().UsageEvents.AsNoTracking().ToListAsync();
    }

    private static decimal Dec(JsonNode? node) => decimal.Parse((string)node!, CultureInfo.InvariantCulture);

    /// <summary>Each day's tokens, revenue and distinct consumers equal the raw events of that day.</summary>
    private static void AssertDaysMatch(JsonArray days, List<UltraRepo.Metering.UsageEvent> raw)
    {
        foreach (var day in days)
        {
            var date = DateTime.ParseExact((string)day!["date"]!, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            var of = raw.Where(e => e.Timestamp.Date == date.Date).ToList();
            Assert.Equal(of.Sum(e => e.TotalTokens), (long)day["tokens"]!);
            Assert.Equal(of.Sum(e => e.Cost), Dec(day["revenue"]));
            Assert.Equal(of.Select(e => e.ConsumerId).Distinct().Count(), (long)day["users"]!);
        }
    }

    [Fact]
    public async Task ConsumerMonth_EqualsTheRawEventsOfTheCallerOnly()
    {
        var usage = await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>("/api/consumer/usage?month=2026-11");

        var bob = Guid.Parse((string)(await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>("/api/me"))!["id"]!);
        var raw = (await RawAsync()).Where(e => e.ConsumerId == bob && e.Period == "2026-11" && e.IsBillable).ToList();
        var packages = usage!["packages"]!.AsArray();
        Assert.Equal([Notes, Weather, Foreign], packages.Select(p => (string)p!["package_id"]!));
        foreach (var package in packages)
        {
            var of = raw.Where(e => e.ServerName == (string)package!["package_id"]!).ToList();
            Assert.Equal(of.Sum(e => e.TotalTokens), (long)package!["tokens_used"]!);
            Assert.Equal(of.Sum(e => e.Cost), Dec(package["estimated_cost"]));
            Assert.Equal(of.Count, (long)package["requests"]!);
        }

        Assert.Equal(raw.Sum(e => e.TotalTokens), (long)usage["total_tokens"]!);
        Assert.Null(usage["total_cost"]);
        Assert.Equal(raw.Where(e => e.Currency == "USD").Sum(e => e.Cost), Dec(usage["totals_by_currency"]!["USD"]));
        Assert.Equal(raw.Where(e => e.Currency == "EUR").Sum(e => e.Cost), Dec(usage["totals_by_currency"]!["EUR"]));
        // Graduated: bob's weather usage (400 + 500 + the gateway call) crosses the 500-token tier.
        var weather = raw.Where(e => e.ServerName == Weather).ToList();
        var tokens = weather.Sum(e => e.TotalTokens);
        Assert.Equal(Math.Min(tokens, 500) * 3m / 1000 + Math.Max(0, tokens - 500) * 1.5m / 1000, weather.Sum(e => e.Cost));
    }

    [Fact]
    public async Task PublisherAnalytics_CoverOnlyTheirListingsAndCountDistinctConsumers()
    {
        var analytics = await _bed.Publisher.Api.GetFromJsonAsync<JsonNode>("/api/publisher/analytics?start_date=2026-11-02&end_date=2026-11-04");

        var raw = (await RawAsync()).Where(e => e.ServerName is Weather or Notes && e.IsBillable && e.Timestamp < new DateTime(2026, 11, 5, 0, 0, 0, DateTimeKind.Utc)).ToList();
        Assert.Equal(raw.Sum(e => e.Cost), Dec(analytics!["total_revenue"]));
        Assert.Equal(raw.Sum(e => e.TotalTokens), (long)analytics["total_tokens"]!);
        // bob on two days and carol on one: two consumers, not the sum of daily counts.
        Assert.Equal(2, (long)analytics["unique_consumers"]!);
        var days = analytics["daily_breakdown"]!.AsArray();
        Assert.Equal(["2026-11-02", "2026-11-03", "2026-11-04"], days.Select(d => (string)d!["date"]!));
        AssertDaysMatch(days, raw);

        var daves = await _dave.Api.GetFromJsonAsync<JsonNode>("/api/publisher/analytics?start_date=2026-11-02&end_date=2026-11-04");
        Assert.Equal(100, (long)daves!["total_tokens"]!);
        Assert.Equal("EUR", (string?)daves["currency"]);
    }

    [Fact]
    public async Task PublisherAnalytics_AcrossAMonthBoundary_CountEachConsumerOncePerDayAndOnceOverall()
    {
        // carol uses weather on 30 November (twice) and on 1 December: the range spans both months' day maps.
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
        await Ingest(_bed.Publisher, _carolWeather, new DateTime(2026, 11, 30, 23, 0, 0, DateTimeKind.Utc), 10, 20);
        await Ingest(_bed.Publisher, _carolWeather, new DateTime(2026, 11, 30, 23, 30, 0, DateTimeKind.Utc), 5, 5);
        await Ingest(_bed.Publisher, _carolWeather, new DateTime(2026, 12, 1, 0, 30, 0, DateTimeKind.Utc), 7, 7);
        await _bed.SettledAsync();

        var analytics = await _bed.Publisher.Api.GetFromJsonAsync<JsonNode>("/api/publisher/analytics?start_date=2026-11-03&end_date=2026-12-01");

        var raw = (await RawAsync()).Where(e => e.ServerName is Weather or Notes && e.IsBillable
            && e.Timestamp >= new DateTime(2026, 11, 3, 0, 0, 0, DateTimeKind.Utc) && e.Timestamp < new DateTime(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc)).ToList();
        Assert.Equal(2, raw.Select(e => e.ConsumerId).Distinct().Count());
        Assert.Equal(2, (long)analytics!["unique_consumers"]!);
        Assert.Equal(raw.Sum(e => e.TotalTokens), (long)analytics["total_tokens"]!);
        Assert.Equal(raw.Sum(e => e.Cost), Dec(analytics["total_revenue"]));
        var days = analytics["daily_breakdown"]!.AsArray();
        Assert.Equal(29, days.Count);
        AssertDaysMatch(days, raw);

        Assert.Equal(1, (long)days.Single(d => (string)d!["date"]! == "2026-11-30")!["users"]!); // carol, once for two calls
        Assert.Equal(1, (long)days.Single(d => (string)d!["date"]! == "2026-12-01")!["users"]!);
    }

    [Fact]
    public async Task OperatorOverview_IsAdminOnlyAndRanksConsumers()
    {
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.Consumer.Api.GetAsync("/api/admin/usage/overview")).StatusCode);
        var admin = await _bed.App.CreateAdminAsync();

        var overview = await admin.Api.GetFromJsonAsync<JsonNode>("/api/admin/usage/overview");

        Assert.Equal("bob", (string?)overview!["top_consumers_last_hour"]![0]!["handle"]);
        Assert.True((double)overview["tokens_per_second"]! > 0);
    }

    [Theory]
    [InlineData("/api/consumer/usage?month=2026-13", "query.month")]
    [InlineData("/api/publisher/analytics?start_date=2026-11-05&end_date=2026-11-01", "query.start_date")]
    [InlineData("/api/publisher/analytics?start_date=yesterday", "query.start_date")]
    public async Task BadParameters_Return400NamingTheParameter(string url, string location)
    {
        var response = await _bed.Consumer.Api.GetAsync(url);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(location, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    /// <summary>Years outside 2000–9998 are refused up front, so no derived date (next month, default start, day after) can overflow.</summary>
    [Fact]
    public async Task DatesOutsideTheSupportedYears_Return400NamingTheParameter_NeverA500()
    {
        (string Url, string Location)[] cases =
        [
            ("/api/consumer/usage?month=9999-12", "query.month"),
            ("/api/consumer/usage?month=1999-12", "query.month"),
            ("/api/publisher/analytics?end_date=0001-01-01", "query.end_date"),
            ("/api/publisher/analytics?end_date=0001-01-15", "query.end_date"),
            ("/api/publisher/analytics?start_date=0001-01-01&end_date=0001-01-02", "query.start_date"),
            ("/api/publisher/analytics?end_date=9999-12-31", "query.end_date"),
            ("/api/publisher/analytics?start_date=9999-12-30&end_date=9999-12-31", "query.start_date"),
        ];
        foreach (var (url, location) in cases)
        {
            var response = await _bed.Publisher.Api.GetAsync(url);

            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{url}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var errors = (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]).ToList();
            Assert.Contains(location, errors);
        }

        // The edges of the range still work.
        Assert.Equal(HttpStatusCode.OK, (await _bed.Publisher.Api.GetAsync("/api/consumer/usage?month=9998-12")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _bed.Publisher.Api.GetAsync("/api/consumer/usage?month=2000-01")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _bed.Publisher.Api.GetAsync("/api/publisher/analytics?end_date=9998-12-31")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _bed.Publisher.Api.GetAsync("/api/publisher/analytics?end_date=2000-01-01")).StatusCode);
    }
}
