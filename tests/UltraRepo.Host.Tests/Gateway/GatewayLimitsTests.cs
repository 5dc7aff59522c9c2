using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>Limits, budgets and rate limits with the embedded (in-process) counters.</summary>
public sealed class GatewayLimitsTestsInProcess() : GatewayLimitsTests(Provider.Sqlite, redis: false);

/// <summary>The same rules with PostgreSQL and the shared Redis counters that scale-out nodes use.</summary>
public sealed class GatewayLimitsTestsOnRedis() : GatewayLimitsTests(Provider.Postgres, redis: true);

public abstract class GatewayLimitsTests(Provider provider, bool redis)
{
    private const string Server = "com.ultrarepo.alice/limited";

    private static string Call(int id, string text = "x") =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + text + "\"}}}";

    /// <param name="pricing">A pricing document to PUT, or JSON text to store unchecked (see <see cref="UncheckedPricing"/>).</param>
    private async Task<GatewayTestbed> StartAsync(object pricing, Action<Dictionary<string, string?>>? configure = null)
    {
        var bed = await GatewayTestbed.StartAsync(provider, settings =>
        {
            // Only the rule under test refuses requests.
            settings["Gateway:RequestsPerSecondPerKey"] = "100000";
            settings["Gateway:BurstPerKey"] = "100000";
            if (redis)
            {
                settings["ConnectionStrings:Redis"] = Environment.GetEnvironmentVariable("ULTRAREPO_TEST_REDIS")
                    ?? throw new InvalidOperationException("Redis tests need ULTRAREPO_TEST_REDIS; run ./scripts/test.sh");
            }

            configure?.Invoke(settings);
        }, upstream: o => o.Stateless = true);
        await bed.PublishAsync(Server, bed.Upstream.StreamableEndpoint);
        if (pricing is string stored)
        {
            await UncheckedPricing.StoreAsync(bed.App, Server, stored);
        }
        else
        {
            await bed.SetPricingAsync(Server, pricing);
        }

        await bed.SubscribeAsync(Server);
        return bed;
    }

    private static object Usage(long? monthlyTokenLimit = null, string pricePer1k = "1") =>
        new { model = "usage", currency = "USD", usage = new { pricePer1k, monthlyTokenLimit } };

    /// <summary>One complete call: the response body is read, as a client would before its next call.</summary>
    private static async Task<HttpResponseMessage> CallAsync(GatewayTestbed bed, int id, string text = "x")
    {
        var response = await bed.PostRpcAsync(Server, Call(id, text));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static bool Billable(JsonNode e) => (string?)e["outcome"] is "ok" or "rpc_error";

    [Fact]
    public async Task MonthlyTokenLimit_Reached_Returns429WithRetryAfterTheNextPeriod()
    {
        await using var bed = await StartAsync(Usage(monthlyTokenLimit: 60), s => s["Gateway:OutputReservationTokens"] = "5");
        HttpResponseMessage response;
        var calls = 0;
        do
        {
            response = await CallAsync(bed, ++calls, "a few words of text");
        }
        while (response.StatusCode == HttpStatusCode.OK && calls < 50);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var retryAfter = response.Headers.RetryAfter!.Delta!.Value;
        // The test clock is 2026-11-02T09:00Z; the next period starts 2026-12-01T00:00Z.
        Assert.Equal(new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc) - new DateTime(2026, 11, 2, 9, 0, 0, DateTimeKind.Utc), retryAfter);
        var error = (await response.ReadJsonAsync())["error"]!;
        Assert.Equal(-32005, (int)error["code"]!);
        Assert.Equal("listing_limit", (string?)error["data"]!["reason"]);
        var events = await bed.EventsAsync();
        Assert.Equal(calls.ToString(CultureInfo.InvariantCulture), (string?)events.Single(e => (string?)e["outcome"] == "limited")["jsonRpcId"]);
        Assert.True(events.Where(Billable).Sum(e => (long)e["totalTokens"]!) <= 60);
    }

    /// <summary>
    /// 200 concurrent requests near the limit, with a reservation at least as large as each response:
    /// only a request admitted on the last few tokens (its reservation trimmed to what was left) can pass
    /// the limit, by at most its own output; once the limit is reached nothing more is admitted.
    /// </summary>
    [Fact]
    public async Task ConcurrentRequests_WithSufficientReservations_OvershootAtMostOneResponse()
    {
        const long limit = 2000;
        await using var bed = await StartAsync(Usage(monthlyTokenLimit: limit), s => s["Gateway:OutputReservationTokens"] = "20");

        var responses = await Task.WhenAll(Enumerable.Range(1, 200).Select(i => CallAsync(bed, i, "concurrent words")));

        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, r.StatusCode.ToString()));
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.TooManyRequests);
        var events = await bed.EventsAsync();
        var used = events.Where(Billable).Sum(e => (long)e["totalTokens"]!);
        var largestOutput = events.Where(Billable).Max(e => (long)e["outputTokens"]!);
        Assert.True(used <= limit + largestOutput, $"used {used} > limit {limit} + {largestOutput}");
        Assert.Equal(responses.Count(r => r.StatusCode == HttpStatusCode.OK), events.Count(Billable));

        // Keep going until the limit itself is reached: then nothing more is admitted.
        for (var i = 0; i < 400 && (await CallAsync(bed, 1000 + i, "concurrent words")).StatusCode == HttpStatusCode.OK; i++)
        {
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await CallAsync(bed, 5000)).StatusCode);
        var final = (await bed.EventsAsync()).Where(Billable).ToList();
        var total = final.Sum(e => (long)e["totalTokens"]!);
        Assert.True(total >= limit - 20, $"the limit was never reached: {total}");
        Assert.True(total <= limit + final.Max(e => (long)e["outputTokens"]!), $"used {total} > limit {limit} + one response");
    }

    /// <summary>
    /// With reservations smaller than the responses, the overshoot is bounded by what the admitted
    /// requests used beyond their reservations, and the limit still stops new requests.
    /// </summary>
    [Fact]
    public async Task ConcurrentRequests_WithSmallReservations_OvershootAtMostTheInFlightExcess()
    {
        const long limit = 300;
        const long reservedOutput = 1;
        await using var bed = await StartAsync(Usage(monthlyTokenLimit: limit), s => s["Gateway:OutputReservationTokens"] = reservedOutput.ToString(CultureInfo.InvariantCulture));
        var text = string.Join(' ', Enumerable.Repeat("overshoot", 20));

        var responses = await Task.WhenAll(Enumerable.Range(1, 200).Select(i => CallAsync(bed, i, text)));

        var events = (await bed.EventsAsync()).Where(Billable).ToList();
        var used = events.Sum(e => (long)e["totalTokens"]!);
        var excess = events.Sum(e => Math.Max(0, (long)e["outputTokens"]! - reservedOutput));
        Assert.True(used > limit, "the scenario is meant to overshoot");
        Assert.True(used <= limit + excess, $"used {used} > limit {limit} + in-flight excess {excess}");
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await CallAsync(bed, 999, text)).StatusCode);
    }

    [Fact]
    public async Task MoneyBudget_AlertsAt50_80_100AndStopsAtTheCap()
    {
        await using var bed = await StartAsync(Usage(pricePer1k: "10"), s => s["Gateway:OutputReservationTokens"] = "50");
        var set = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new[] { new { amount = "1.00", currency = "USD", alertThresholds = new[] { 50, 80, 100 } } },
        });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        HttpResponseMessage response;
        var calls = 0;
        do
        {
            response = await CallAsync(bed, ++calls, "spend some money on tokens");
        }
        while (response.StatusCode == HttpStatusCode.OK && calls < 200);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("budget", (string?)(await response.ReadJsonAsync())["error"]!["data"]!["reason"]);
        var spent = (await bed.EventsAsync()).Sum(e => decimal.Parse((string)e["cost"]!, CultureInfo.InvariantCulture));
        Assert.InRange(spent, 1.00m, 1.00m + 50 * 10m / 1000 + 1m);
        var notifications = (await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/notifications"))!.Select(n => (string)n!["message"]!).ToList();
        Assert.Single(notifications, m => m.Contains("50%", StringComparison.Ordinal));
        Assert.Single(notifications, m => m.Contains("80%", StringComparison.Ordinal));
        Assert.Single(notifications, m => m.Contains("100%", StringComparison.Ordinal) && m.Contains("stopped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BudgetSetAfterUsage_AlertsTheThresholdsAlreadyReached_OncePerCap()
    {
        await using var bed = await StartAsync(Usage());
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(bed, i, "usage before any budget")).StatusCode);
        }

        var events = await bed.EventsAsync();
        for (var wait = 0; events.Count < 3 && wait < 200; wait++)
        {
            await Task.Delay(50);
            events = await bed.EventsAsync();
        }

        Assert.Equal(3, events.Count);
        var used = events.Sum(e => (long)e["totalTokens"]!);
        async Task<List<string>> PutAndReadAsync(long tokens)
        {
            (await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
            {
                budgets = new[] { new { tokens, alertThresholds = new[] { 50, 80, 100 }, mode = "alert_only", server = Server } },
            })).EnsureSuccessStatusCode();
            return (await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/notifications"))!.Select(n => (string)n!["message"]!).ToList();
        }

        // Usage is at 60 % of the first cap: its 50 % alert comes at once, and saving the same budget again repeats nothing.
        var first = await PutAndReadAsync(used * 100 / 60);
        var again = await PutAndReadAsync(used * 100 / 60);
        // A cap the usage has already reached: each of its thresholds is alerted.
        var reached = await PutAndReadAsync(used);

        static string Percent(string message) => message.Split(' ')[3];
        Assert.Equal("50%", Percent(Assert.Single(first)));
        Assert.Single(again);
        Assert.Equal(["100%", "50%", "50%", "80%"], reached.Select(Percent).Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task AlertOnlyBudget_NotifiesButNeverStops()
    {
        await using var bed = await StartAsync(Usage(pricePer1k: "10"));
        (await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new[] { new { tokens = 100L, alertThresholds = new[] { 100 }, mode = "alert_only", server = Server } },
        })).EnsureSuccessStatusCode();

        for (var i = 1; i <= 12; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await CallAsync(bed, i, "alert only budgets never stop")).StatusCode);
        }

        var notifications = (await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/notifications"))!;
        Assert.Single(notifications);
        Assert.DoesNotContain("stopped", (string)notifications[0]!["message"]!);
    }

    [Fact]
    public async Task HardBudgetWithoutAlertThresholds_StopsAtTheCapWithoutNotifying()
    {
        await using var bed = await StartAsync(Usage(pricePer1k: "10"), s => s["Gateway:OutputReservationTokens"] = "50");
        var set = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new[] { new { tokens = 300L, alertThresholds = Array.Empty<int>(), mode = "hard", server = Server } },
        });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Empty((JsonArray)(await set.ReadJsonAsync())[0]!["alertThresholds"]!);

        HttpResponseMessage response;
        var calls = 0;
        do
        {
            response = await CallAsync(bed, ++calls, "a hard cap with no alerts");
        }
        while (response.StatusCode == HttpStatusCode.OK && calls < 200);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("budget", (string?)(await response.ReadJsonAsync())["error"]!["data"]!["reason"]);
        Assert.Empty((await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/notifications"))!);
    }

    [Fact]
    public async Task Budgets_InvalidDocument_Returns400NamingTheField()
    {
        await using var bed = await StartAsync(Usage());

        var response = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new object[] { new { amount = "-5", currency = "USD" }, new { tokens = 10L, amount = "1", currency = "XXX" }, new { tokens = 5L, alertThresholds = new[] { 150 } } },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var locations = (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]).ToList();
        Assert.Contains("body.budgets[0].amount", locations);
        Assert.Contains("body.budgets[1].currency", locations);
        Assert.Contains("body.budgets[2].alertThresholds", locations);
    }

    /// <summary>Puts <paramref name="budgets"/> over a valid budget and returns the error locations; the valid budget must stay as it was.</summary>
    private static async Task<List<string?>> RejectedBudgetLocationsAsync(GatewayTestbed bed, object budgets)
    {
        (await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new { budgets = new[] { new { tokens = 777L } } })).EnsureSuccessStatusCode();

        var response = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new { budgets });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var kept = (await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/consumer/budgets"))!;
        Assert.Equal(777L, (long)kept.Single()!["tokens"]!);
        return (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]).ToList();
    }

    [Fact]
    public async Task Budgets_NullEntry_Returns400NamingIt()
    {
        await using var bed = await StartAsync(Usage());

        Assert.Equal(["body.budgets[0]"], await RejectedBudgetLocationsAsync(bed, new object?[] { null }));
        Assert.Equal(["body.budgets[1]"], await RejectedBudgetLocationsAsync(bed, new object?[] { new { tokens = 5L }, null }));
    }

    [Fact]
    public async Task Budgets_AmountFinerThanTheCurrencysMinorUnit_Returns400NamingTheAmount()
    {
        await using var bed = await StartAsync(Usage());

        foreach (var (amount, currency) in new[]
        {
            ("0.001", "USD"), ("0.0000000000000000000000000001", "USD"), ("1." + new string('1', 60), "USD"),
            ("1.000000000000000000000000000000000001", "EUR"), ("10.5", "JPY"),
        })
        {
            Assert.Equal(["body.budgets[0].amount"], await RejectedBudgetLocationsAsync(bed, new[] { new { amount, currency } }));
        }

        // Whole minor units are kept as given (trailing zeros are not extra precision).
        var set = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new[] { new { amount = "0.01", currency = "USD" }, new { amount = "10.000", currency = "JPY" } },
        });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var amounts = (await set.ReadJsonAsync()).AsArray().Select(b => (string?)b!["amount"]).ToList();
        Assert.Equal(["0.01", "10"], amounts);
    }

    [Fact]
    public async Task Budgets_AmountBeyondTheMaximum_Returns400_AndTheMaximumIsKeptAndEnforced()
    {
        await using var bed = await StartAsync(Usage());

        Assert.Equal(["body.budgets[0].amount"], await RejectedBudgetLocationsAsync(bed, new[] { new { amount = "1000000000.01", currency = "USD" } }));
        Assert.Equal(["body.budgets[0].amount"], await RejectedBudgetLocationsAsync(bed, new[] { new { amount = "79228162514264337593543950335", currency = "USD" } }));
        var set = await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new { budgets = new[] { new { amount = "1000000000.00", currency = "USD" } } });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal("1000000000.00", (string?)(await set.ReadJsonAsync())[0]!["amount"]);
        // Requests are still admitted and settled under the largest budget (no overflow in the counters).
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(bed, 1, "under a very large budget")).StatusCode);
    }

    [Fact]
    public async Task Budgets_MoreThanTheMaximum_Returns400NamingTheList()
    {
        await using var bed = await StartAsync(Usage());

        var tooMany = Enumerable.Range(1, 101).Select(i => new { tokens = (long)i, server = i % 2 == 0 ? Server : null }).ToArray();

        Assert.Equal(["body.budgets"], await RejectedBudgetLocationsAsync(bed, tooMany));
    }

    [Fact]
    public async Task Budgets_TwoForTheSameListingAndKind_Returns400NamingTheRepeat()
    {
        await using var bed = await StartAsync(Usage());

        var locations = await RejectedBudgetLocationsAsync(bed, new object[]
        {
            new { amount = "5.00", currency = "USD" },
            new { tokens = 1000L },
            new { amount = "5.00", currency = "EUR" },
            new { amount = "9.00", currency = "USD", mode = "alert_only" },
            new { tokens = 2000L, server = Server },
            new { tokens = 3000L },
        });

        Assert.Equal(["body.budgets[3]", "body.budgets[5]"], locations);

        // Different listings, kinds or currencies are fine together.
        (await bed.Consumer.Api.PutAsJsonAsync("/api/consumer/budgets", new
        {
            budgets = new object[]
            {
                new { amount = "5.00", currency = "USD" }, new { amount = "5.00", currency = "EUR" }, new { tokens = 1000L },
                new { amount = "1.00", currency = "USD", server = Server }, new { tokens = 100L, server = Server },
            },
        })).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task PerKeyRateLimit_RefusesTheBurstBeyondTheBucket()
    {
        await using var bed = await StartAsync(Usage(), s =>
        {
            s["Gateway:RequestsPerSecondPerKey"] = "0.5";
            s["Gateway:BurstPerKey"] = "3";
        });

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 1; i <= 5; i++)
        {
            var response = await CallAsync(bed, i);
            statuses.Add(response.StatusCode);
            limited ??= response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        // Setup already used the bucket for nothing (subscribing is not a gateway call), so three pass.
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.True(limited!.Headers.RetryAfter!.Delta >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task StoredPriceThatCannotBeRated_Returns502NamingThePricingNotARetryable503()
    {
        await using var bed = await StartAsync(UncheckedPricing.Absurd);

        var response = await CallAsync(bed, 1);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.False(response.Headers.Contains("Retry-After"));
        var error = (await response.ReadJsonAsync())["error"]!;
        Assert.Equal(-32014, (int)error["code"]!);
        Assert.Contains("pricing", (string?)error["message"], StringComparison.Ordinal);
    }
}
