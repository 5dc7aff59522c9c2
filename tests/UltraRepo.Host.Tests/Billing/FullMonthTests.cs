using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing;

public sealed class FullMonthTestsOnSqlite() : FullMonthTests(Provider.Sqlite);

public sealed class FullMonthTestsOnPostgres() : FullMonthTests(Provider.Postgres);

/// <summary>
/// A whole month with the manual payment provider: usage through the gateway and from ingestion, a license
/// purchase, the close, the invoice's tiered amounts, payment, ledger, payout and a reconciliation with
/// zero difference — then a late event billed on the next month.
/// </summary>
public abstract class FullMonthTests(Provider provider) : IAsyncLifetime
{
    private const string Metered = "com.ultrarepo.alice/metered";
    private const string Licensed = "com.ultrarepo.alice/licensed";
    private const string Minimum = "com.ultrarepo.alice/minimum";
    private static readonly UsagePricing SeedPlan = new(ChargeModel.Graduated,
        [new PriceTier(100_000, 0.002m), new PriceTier(1_000_000, 0.0015m), new PriceTier(null, 0.001m)]);

    private GatewayTestbed _bed = null!;
    private UpstreamMcpServer _second = null!;
    private UpstreamMcpServer _third = null!;
    private string _outbox = null!;
    private TestUser _admin = null!;
    private int _transactions;

    public async Task InitializeAsync()
    {
        _outbox = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "outbox-" + Guid.NewGuid().ToString("N"));
        _bed = await GatewayTestbed.StartAsync(provider, s =>
        {
            s["Billing:Mail:OutboxDirectory"] = _outbox;
            s["Billing:ScheduledClose"] = "false";
            s["Gateway:RequestsPerSecondPerKey"] = "100000";
            s["Gateway:BurstPerKey"] = "100000";
        }, upstream: o => o.Stateless = true);
        _second = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        _third = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        _admin = await _bed.App.CreateAdminAsync();
        await _bed.PublishAsync(Metered, _bed.Upstream.StreamableEndpoint);
        await _bed.PublishAsync(Licensed, _second.StreamableEndpoint);
        await _bed.PublishAsync(Minimum, _third.StreamableEndpoint);
        await _bed.SetPricingAsync(Metered, new
        {
            model = "usage",
            currency = "USD",
            usage = new { chargeModel = "graduated", tiers = new object[] { new { upTo = 100000, pricePer1k = "0.002" }, new { upTo = 1000000, pricePer1k = "0.0015" }, new { upTo = (long?)null, pricePer1k = "0.001" } } },
        });
        await _bed.SetPricingAsync(Licensed, new { model = "license", currency = "USD", license = new { price = "29.00" } });
        await _bed.SetPricingAsync(Minimum, new { model = "usage", currency = "USD", usage = new { pricePer1k = "0.01", minimumMonthlySpend = "5.00" } });
    }

    public async Task DisposeAsync()
    {
        await _bed.DisposeAsync();
        await _second.DisposeAsync();
        await _third.DisposeAsync();
    }

    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"metered through the gateway"}}}""";

    private async Task<string> SubscribeAsync(string server) =>
        (string)(await (await _bed.Consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server })).ReadJsonAsync())["id"]!;

    private async Task IngestAsync(string subscription, long tokens, DateTime at)
    {
        var response = await _bed.Publisher.Api.PostAsJsonAsync("/api/v1/events", new
        {
            @event = new Dictionary<string, object>
            {
                ["transaction_id"] = "tx-" + Interlocked.Increment(ref _transactions),
                ["external_subscription_id"] = subscription,
                ["code"] = "mcp_tokens",
                ["timestamp"] = (long)(at - DateTime.UnixEpoch).TotalSeconds,
                ["properties"] = new Dictionary<string, long> { ["tokens_input"] = tokens / 2, ["tokens_output"] = tokens - tokens / 2 },
            },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static decimal Dec(JsonNode? node) => decimal.Parse((string)node!, CultureInfo.InvariantCulture);

    [Fact]
    public async Task FullMonth_UsageLicenseCloseInvoicePaymentLedgerPayout_ReconcilesToZero()
    {
        // November: usage through the gateway and ingested, crossing the 100K tier.
        var metered = await SubscribeAsync(Metered);
        var minimum = await SubscribeAsync(Minimum);
        for (var i = 0; i < 5; i++)
        {
            var r = await _bed.PostRpcAsync(Metered, Call);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            await r.Content.ReadAsStringAsync();
        }

        await (await _bed.PostRpcAsync(Minimum, Call)).Content.ReadAsStringAsync();
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero));
        await IngestAsync(metered, 60_000, new DateTime(2026, 11, 10, 8, 0, 0, DateTimeKind.Utc));
        await IngestAsync(metered, 70_001, new DateTime(2026, 11, 15, 8, 0, 0, DateTimeKind.Utc));

        // A license purchase (manual provider: sandbox checkout completes at once) and its key.
        var checkout = await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Licensed });
        Assert.Equal(HttpStatusCode.Created, checkout.StatusCode);
        var license = await checkout.ReadJsonAsync();
        Assert.Equal("active", (string?)license["status"]);
        Assert.True((bool)license["sandbox"]!);
        var valid = await (await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key = (string)license["key"]!, server = Licensed })).ReadJsonAsync();
        Assert.True((bool)valid["valid"]!);
        var licensedCall = await _bed.PostRpcAsync(Licensed, Call);
        Assert.Equal(HttpStatusCode.OK, licensedCall.StatusCode);
        await licensedCall.Content.ReadAsStringAsync();
        await _bed.SettledAsync();

        // Close November after its grace period.
        var tooEarly = await _admin.Api.PostAsync("/api/admin/billing/close?period=2026-11", null);
        Assert.Equal(HttpStatusCode.BadRequest, tooEarly.StatusCode);
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        var closed = await (await _admin.Api.PostAsync("/api/admin/billing/close?period=2026-11", null)).ReadJsonAsync();
        Assert.Equal(1, (int)closed["invoices"]!);
        var again = await (await _admin.Api.PostAsync("/api/admin/billing/close?period=2026-11", null)).ReadJsonAsync();
        Assert.True((bool)again["alreadyClosed"]!);

        // The invoice: tiered usage, the minimum true-up, the prepaid license.
        var list = await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/invoices");
        var invoiceId = (string)list!.Single()!["id"]!;
        var invoice = await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{invoiceId}");
        Assert.Equal("UR-000001", (string?)invoice!["number"]);
        var lines = invoice["lines"]!.AsArray();
        var usage = lines.Single(l => (string?)l!["kind"] == "usage" && (string?)l["server"] == Metered)!;
        var tokens = (long)usage["tokens"]!;
        Assert.True(tokens > 130_000);
        var rated = UltraRepo.Domain.Pricing.UsageRating.Rate(SeedPlan, tokens);
        Assert.Equal(rated.Amount, Dec(usage["exactAmount"]));
        Assert.Equal(Math.Round(rated.Amount, 2, MidpointRounding.ToEven), Dec(usage["amount"]));
        Assert.Equal(2, usage["tiers"]!.AsArray().Count);
        Assert.Equal(100_000, (long)usage["tiers"]![0]!["tokens"]!);
        var trueUp = lines.Single(l => (string?)l!["kind"] == "minimum_true_up")!;
        var minimumUsage = lines.Single(l => (string?)l!["kind"] == "usage" && (string?)l["server"] == Minimum)!;
        Assert.Equal(5.00m, Dec(trueUp["exactAmount"]) + Dec(minimumUsage["exactAmount"]));
        var licenseLine = lines.Single(l => (string?)l!["kind"] == "license")!;
        Assert.Equal("29.00", (string?)licenseLine["amount"]);
        Assert.True((bool)licenseLine["prepaid"]!);
        Assert.Equal(Dec(invoice["total"]) - 29.00m, Dec(invoice["amountDue"]));
        Assert.Equal("open", (string?)invoice["status"]);
        Assert.True(File.Exists(Path.Combine(_outbox, "UR-000001.eml")));
        var html = await _bed.Consumer.Api.GetStringAsync($"/api/invoices/{invoiceId}?format=html");
        Assert.Contains("Invoice UR-000001", html);

        // Payment (manual: an admin marks it paid), ledger, payout.
        Assert.Equal(HttpStatusCode.OK, (await _admin.Api.PostAsync($"/api/admin/invoices/{invoiceId}/mark-paid", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _admin.Api.PostAsync($"/api/admin/invoices/{invoiceId}/mark-paid", null)).StatusCode);
        using (var scope = _bed.App.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var entries = await db.LedgerEntries.AsNoTracking().ToListAsync();
            Assert.All(entries.GroupBy(e => e.TransactionId), t => Assert.Equal(0m, t.Sum(e => e.Amount)));
        }

        var earnings = (await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))![0]!;
        var charged = Dec(invoice["total"]);
        Assert.Equal(charged - Fees(lines), Dec(earnings["balance"]));
        var payouts = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();
        Assert.Equal(1, (int)payouts["created"]!);
        Assert.Equal(Dec(earnings["balance"]), (decimal)payouts["payouts"]![0]!["amount"]!);
        var rerun = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();
        Assert.Equal(0, (int)rerun["created"]!);
        Assert.Equal("0.00", (string?)(await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))![0]!["balance"]);

        // Reconciliation: events → lines → ledger, zero difference.
        var report = (await _admin.Api.GetFromJsonAsync<JsonArray>("/api/admin/billing/reconciliation?period=2026-11"))!.Single()!;
        AssertZero(report);
        Assert.Equal(Dec(report["usageEventsCost"]), Dec(report["billedOnPeriodInvoices"]));
        Assert.Equal(Dec(report["ledgerCharges"]), Dec(report["invoicesTotal"]));

        // A late November event (after the close) is billed on December's invoice, once.
        await IngestAsync(metered, 1_000, new DateTime(2026, 11, 30, 23, 0, 0, DateTimeKind.Utc));
        await _bed.SettledAsync();
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2027, 1, 1, 3, 0, 0, TimeSpan.Zero));
        await _admin.Api.PostAsync("/api/admin/billing/close?period=2026-12", null);
        var december = (await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/invoices"))!.Single(i => (string?)i!["period"] == "2026-12")!;
        var decemberLines = (await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{(string)december["id"]!}"))!["lines"]!.AsArray();
        var late = decemberLines.Single(l => (string?)l!["kind"] == "late_usage")!;
        Assert.Equal("2026-11", (string?)late["sourcePeriod"]);
        Assert.Equal(1_000, (long)late["tokens"]!);
        // Past 100K, so the late 1,000 tokens are priced at 0.0015/1K.
        Assert.Equal(1.5m / 1000 * 1000 / 1000, Dec(late["exactAmount"]));
        var after = (await _admin.Api.GetFromJsonAsync<JsonArray>("/api/admin/billing/reconciliation?period=2026-11"))!.Single()!;
        AssertZero(after);
        Assert.Equal(Dec(late["exactAmount"]), Dec(after["billedLaterAsLateUsage"]));
        Assert.Equal(0m, Dec(after["notYetBilled"]));
    }

    private static decimal Fees(JsonArray lines) => lines.Sum(l => Math.Round(Dec(l!["amount"]) * 0.30m, 2, MidpointRounding.ToEven));

    private static void AssertZero(JsonNode report)
    {
        foreach (var difference in report["differences"]!.AsObject().Where(d => d.Key != "allZero"))
        {
            Assert.True(Dec(difference.Value) == 0, $"{difference.Key} = {difference.Value} in {report.ToJsonString()}");
        }

        Assert.True((bool)report["differences"]!["allZero"]!);
    }
}
