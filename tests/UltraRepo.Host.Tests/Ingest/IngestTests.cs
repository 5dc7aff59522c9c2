using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Ingest;

public sealed class IngestTestsOnSqlite() : IngestTests(Provider.Sqlite);

public sealed class IngestTestsOnPostgres() : IngestTests(Provider.Postgres);

/// <summary>Lago-compatible usage ingestion for servers that run outside the gateway.</summary>
public abstract class IngestTests(Provider provider) : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/stdio-tool";
    private GatewayTestbed _bed = null!;
    private string _subscription = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(provider);
        // A package listing (no remote): its usage can only arrive through ingestion.
        (await _bed.Publisher.Api.PostAsJsonAsync("/v0.1/publish", Json.Server(Server, packages: new[] { new { registryType = "npm", identifier = "@alice/stdio-tool", version = "1.0.0", transport = new { type = "stdio" } } })))
            .EnsureSuccessStatusCode();
        await _bed.SetPricingAsync(Server, new
        {
            model = "usage",
            currency = "USD",
            usage = new { chargeModel = "graduated", tiers = new object[] { new { upTo = 1000, pricePer1k = "2" }, new { upTo = (long?)null, pricePer1k = "1" } } },
        });
        var subscribed = await _bed.Consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server = Server });
        _subscription = (string)(await subscribed.ReadJsonAsync())["id"]!;
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private static long Unix(DateTime instant) => (long)(instant - DateTime.UnixEpoch).TotalSeconds;

    private object Event(string transaction, long input, long output, string? subscription = null, object? timestamp = null) => new Dictionary<string, object?>
    {
        ["transaction_id"] = transaction,
        ["external_subscription_id"] = subscription ?? _subscription,
        ["code"] = "mcp_tokens",
        ["timestamp"] = timestamp ?? Unix(_bed.App.Clock.GetUtcNow().UtcDateTime.AddMinutes(-1)),
        ["properties"] = new Dictionary<string, object> { ["tokens_input"] = input, ["tokens_output"] = output },
    };

    private Task<HttpResponseMessage> SendAsync(object body, string path = "/api/v1/events", TestUser? sender = null) =>
        (sender ?? _bed.Publisher).Api.PostAsJsonAsync(path, body);

    [Fact]
    public async Task OneEvent_IsAcceptedRatedAndReadableByTransactionId()
    {
        var response = await SendAsync(new { @event = Event("tx-1", 600, 600) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var accepted = (await response.ReadJsonAsync())["event"]!;
        Assert.Equal("accepted", (string?)accepted["status"]);
        // 1,200 tokens: the first 1,000 at 2/1K and 200 at 1/1K.
        Assert.Equal("2.2", (string?)accepted["cost"]);
        await _bed.SettledAsync();
        var stored = await (await _bed.Publisher.Api.GetAsync("/api/v1/events/tx-1")).ReadJsonAsync();
        Assert.Equal(1200, (long)stored["event"]!["properties"]!["total_tokens"]!);
        var events = await _bed.EventsAsync();
        Assert.Equal("ingest", (string?)events.Single()["method"]);
    }

    [Fact]
    public async Task RetriedEvent_IsAcceptedOnce()
    {
        var first = await SendAsync(new { @event = Event("tx-retry", 100, 100) });
        var again = await SendAsync(new { @event = Event("tx-retry", 100, 100) });
        var inBatch = await SendAsync(new { events = new[] { Event("tx-retry", 100, 100), Event("tx-new", 10, 10) } }, "/api/v1/events/batch");

        Assert.Equal("accepted", (string?)(await first.ReadJsonAsync())["event"]!["status"]);
        Assert.Equal("duplicate", (string?)(await again.ReadJsonAsync())["event"]!["status"]);
        var batch = await inBatch.ReadJsonAsync();
        Assert.Equal(["duplicate", "accepted"], batch["events"]!.AsArray().Select(e => (string?)e!["status"]));
        var events = await _bed.EventsAsync();
        Assert.Equal(2, events.Count);
        Assert.Equal(220, events.Sum(e => (long)e["totalTokens"]!));
    }

    [Fact]
    public async Task Batch_GivesAResultPerEventAndOneBadEventRejectsNothingElse()
    {
        var other = await _bed.App.CreateUserAsync("carol");
        var response = await SendAsync(new
        {
            events = new object[]
            {
                Event("b-1", 10, 20),
                Event("b-2", 10, 20, subscription: Guid.NewGuid().ToString()),
                new Dictionary<string, object?> { ["transaction_id"] = "b-3", ["external_subscription_id"] = _subscription, ["code"] = "mcp_tokens", ["properties"] = new { tokens_input = -5, tokens_output = 1 } },
                Event("b-1", 10, 20),
                Event("b-5", 10, 20, timestamp: "not-a-time"),
                Event("b-6", 30, 40),
            },
        }, "/api/v1/events/batch");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        var results = body["events"]!.AsArray();
        Assert.Equal(["accepted", "rejected", "rejected", "rejected", "rejected", "accepted"], results.Select(r => (string?)r!["status"]));
        Assert.Equal("subscription_not_found", (string?)results[1]!["error"]!["code"]);
        Assert.Equal("events[1].external_subscription_id", (string?)results[1]!["error"]!["field"]);
        Assert.Equal("events[2].properties", (string?)results[2]!["error"]!["field"]);
        Assert.Equal("duplicate_in_batch", (string?)results[3]!["error"]!["code"]);
        Assert.Equal("events[4].timestamp", (string?)results[4]!["error"]!["field"]);
        Assert.Equal(2, (int)body["accepted"]!);
        Assert.Equal(100, (await _bed.EventsAsync()).Sum(e => (long)e["totalTokens"]!));
        _ = other;
    }

    [Fact]
    public async Task UnknownSubscription_IsRejectedNeverSilentlyDropped()
    {
        var response = await SendAsync(new { @event = Event("tx-unknown", 1, 1, subscription: Guid.NewGuid().ToString()) });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("body.event.external_subscription_id", (string?)body["errors"]![0]!["location"]);
        Assert.Equal("subscription_not_found", (string?)body["error_details"]!["external_subscription_id"]![0]);
        Assert.Equal(HttpStatusCode.NotFound, (await _bed.Publisher.Api.GetAsync("/api/v1/events/tx-unknown")).StatusCode);
    }

    [Fact]
    public async Task PublisherCannotSendUsageForSubscriptionsToOthersListings()
    {
        var mallory = await _bed.App.CreateUserAsync("mallory");

        var response = await SendAsync(new { @event = Event("tx-forged", 1000, 1000) }, sender: mallory);
        var consumerTries = await SendAsync(new { @event = Event("tx-self", 1000, 1000) }, sender: _bed.Consumer);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, consumerTries.StatusCode);
        Assert.Empty(await _bed.EventsAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await mallory.Api.GetAsync("/api/v1/events/tx-forged")).StatusCode);
    }

    [Fact]
    public async Task IngestedCosts_AddUpToTheRatedMonthAcrossBatches()
    {
        var sizes = new long[] { 300, 450, 120, 900, 75, 333 };
        for (var i = 0; i < sizes.Length; i += 2)
        {
            (await SendAsync(new { events = new[] { Event($"m-{i}", sizes[i], 0), Event($"m-{i + 1}", sizes[i + 1], 0) } }, "/api/v1/events/batch")).EnsureSuccessStatusCode();
        }

        var events = await _bed.EventsAsync();
        var total = sizes.Sum();
        var rated = Math.Min(total, 1000) * 2m / 1000 + Math.Max(0, total - 1000) * 1m / 1000;
        Assert.Equal(rated, events.Sum(e => decimal.Parse((string)e["cost"]!, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task IngestedUsage_IsRatedAtThePriceSnapshottedForItsPeriod_AndANewPeriodTakesThePriceThenInForce()
    {
        async Task<decimal> CostAsync(string transaction, long tokens)
        {
            var response = await SendAsync(new { events = new[] { Event(transaction, tokens, 0) } }, "/api/v1/events/batch");
            response.EnsureSuccessStatusCode();
            var result = (await response.ReadJsonAsync())["events"]![0]!;
            Assert.Equal("accepted", (string?)result["status"]);
            return decimal.Parse((string)result["cost"]!, CultureInfo.InvariantCulture);
        }

        Assert.Equal(1m, await CostAsync("p-1", 500)); // 500 tokens at 2/1K: the period's price is snapshotted
        await _bed.SetPricingAsync(Server, new
        {
            model = "usage",
            currency = "USD",
            usage = new { chargeModel = "graduated", tiers = new object[] { new { upTo = 1000, pricePer1k = "5" }, new { upTo = (long?)null, pricePer1k = "4" } } },
        });

        Assert.Equal(0.2m, await CostAsync("p-2", 100)); // same period: still 2/1K
        _bed.App.Clock.Advance(TimeSpan.FromDays(30)); // into the next month
        Assert.Equal(0.5m, await CostAsync("p-3", 100)); // a new period: 5/1K, the price in force when it began
        Assert.Equal(0.5m, await CostAsync("p-4", 100)); // and its snapshot from then on
    }

    [Theory]
    [InlineData("{\"event\": ", HttpStatusCode.BadRequest)]
    [InlineData("{\"nothing\": true}", HttpStatusCode.UnprocessableEntity)]
    [InlineData("{\"events\": []}", HttpStatusCode.UnprocessableEntity)]
    public async Task MalformedEnvelopes_AreRefusedClearly(string body, HttpStatusCode expected)
    {
        var path = body.Contains("events", StringComparison.Ordinal) ? "/api/v1/events/batch" : "/api/v1/events";

        var response = await _bed.Publisher.Api.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task OversizedBatch_IsRefused()
    {
        var events = Enumerable.Range(0, 1001).Select(i => Event($"big-{i}", 1, 1)).ToArray();

        var response = await SendAsync(new { events }, "/api/v1/events/batch");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Empty(await _bed.EventsAsync());
    }

    [Theory]
    [InlineData(long.MaxValue, 1L, "tokens_input")]
    [InlineData(long.MaxValue, long.MaxValue, "tokens_input")]
    [InlineData(1L, 1_000_000_001L, "tokens_output")]
    [InlineData(600_000_000L, 400_000_001L, "total_tokens")]
    public async Task TokenCounts_BeyondThePerEventCap_AreRejectedNamingTheField(long input, long output, string field)
    {
        var response = await SendAsync(new { @event = Event("tx-huge", input, output) });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("body.event.properties." + field, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
        Assert.Equal(HttpStatusCode.NotFound, (await _bed.Publisher.Api.GetAsync("/api/v1/events/tx-huge")).StatusCode);
        Assert.Empty(await _bed.EventsAsync());
    }

    [Fact]
    public async Task TokenCounts_AtThePerEventCap_AreAccepted()
    {
        var response = await SendAsync(new { @event = Event("tx-cap", 600_000_000, 400_000_000) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1_000_000_000, (await _bed.EventsAsync()).Sum(e => (long)e["totalTokens"]!));
    }

    [Fact]
    public async Task Batch_ValidAndOverflowingEvent_StoresAndRatesTheValidOneOnce()
    {
        object[] batch = [Event("ok-1", 1000, 0), Event("bad-1", long.MaxValue, 1)];

        var first = await SendAsync(new { events = batch }, "/api/v1/events/batch");
        var again = await SendAsync(new { events = batch }, "/api/v1/events/batch");
        var next = await SendAsync(new { @event = Event("ok-2", 1000, 0) });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var results = (await first.ReadJsonAsync())["events"]!.AsArray();
        Assert.Equal(["accepted", "rejected"], results.Select(r => (string?)r!["status"]));
        Assert.Equal("2", (string?)results[0]!["cost"]); // the first 1,000 tokens at 2/1K
        Assert.Equal("events[1].properties.tokens_input", (string?)results[1]!["error"]!["field"]);
        Assert.Equal(["duplicate", "rejected"], (await again.ReadJsonAsync())["events"]!.AsArray().Select(r => (string?)r!["status"]));
        // Tokens 1,001-2,000 at 1/1K: the counters hold exactly what was stored.
        Assert.Equal("1", (string?)(await next.ReadJsonAsync())["event"]!["cost"]);
        var events = await _bed.EventsAsync();
        Assert.Equal(2000, events.Sum(e => (long)e["totalTokens"]!));
        Assert.Equal(3m, events.Sum(e => decimal.Parse((string)e["cost"]!, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task Batch_NullEvents_GetTheirOwnErrorAndTheOthersProceed()
    {
        var valid = System.Text.Json.JsonSerializer.Serialize(Event("n-1", 10, 20));

        var mixed = await _bed.Publisher.Api.PostAsync("/api/v1/events/batch", new StringContent("{\"events\":[" + valid + ",null]}", Encoding.UTF8, "application/json"));
        var onlyNull = await _bed.Publisher.Api.PostAsync("/api/v1/events/batch", new StringContent("{\"events\":[null]}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, mixed.StatusCode);
        var results = (await mixed.ReadJsonAsync())["events"]!.AsArray();
        Assert.Equal(["accepted", "rejected"], results.Select(r => (string?)r!["status"]));
        Assert.Equal("events[1]", (string?)results[1]!["error"]!["field"]);
        Assert.Equal(HttpStatusCode.OK, onlyNull.StatusCode);
        var only = await onlyNull.ReadJsonAsync();
        Assert.Equal("events[0]", (string?)only["events"]![0]!["error"]!["field"]);
        Assert.Equal(1, (int)only["rejected"]!);
        Assert.Equal(30, (await _bed.EventsAsync()).Sum(e => (long)e["totalTokens"]!));
    }

    [Fact]
    public async Task Batch_EventWhosePriceCannotBeRated_IsRejectedAndTheOthersAreStoredAndCountedOnce()
    {
        const string Unrateable = "com.ultrarepo.alice/overpriced-tool";
        (await _bed.Publisher.Api.PostAsJsonAsync("/v0.1/publish", Json.Server(Unrateable, packages: new[] { new { registryType = "npm", identifier = "@alice/overpriced-tool", version = "1.0.0", transport = new { type = "stdio" } } })))
            .EnsureSuccessStatusCode();
        await UncheckedPricing.StoreAsync(_bed.App, Unrateable);
        var subscribed = await _bed.Consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server = Unrateable });
        var overpriced = (string)(await subscribed.ReadJsonAsync())["id"]!;

        var response = await SendAsync(new { events = new[] { Event("r-1", 1000, 0), Event("r-2", 1000, 0, subscription: overpriced) } }, "/api/v1/events/batch");
        var next = await SendAsync(new { @event = Event("r-3", 1000, 0) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.ReadJsonAsync())["events"]!.AsArray();
        Assert.Equal(["accepted", "rejected"], results.Select(r => (string?)r!["status"]));
        Assert.Equal("rating_failed", (string?)results[1]!["error"]!["code"]);
        Assert.Equal("events[1]", (string?)results[1]!["error"]!["field"]);
        Assert.Equal("1", (string?)(await next.ReadJsonAsync())["event"]!["cost"]);
        Assert.Equal(2000, (await _bed.EventsAsync()).Sum(e => (long)e["totalTokens"]!));
    }
}
