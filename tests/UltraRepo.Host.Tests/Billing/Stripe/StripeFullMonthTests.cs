using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;
using static UltraRepo.Host.Tests.Billing.Stripe.StripeTestKit;

namespace UltraRepo.Host.Tests.Billing.Stripe;

public sealed class StripeFullMonthTestsOnSqlite() : StripeFullMonthTests(Provider.Sqlite);

public sealed class StripeFullMonthTestsOnPostgres() : StripeFullMonthTests(Provider.Postgres);

/// <summary>
/// <see cref="FullMonthTests"/> with Stripe as the payment provider: the license is paid through Checkout, the
/// month's invoice through a Stripe invoice, both confirmed by signed webhooks, and the publisher is paid by a
/// Connect transfer; the month still reconciles to zero, and the next month's charge reuses the Stripe customer.
/// </summary>
public abstract class StripeFullMonthTests(Provider provider) : IAsyncLifetime
{
    private const string Metered = "com.ultrarepo.alice/metered";
    private const string Licensed = "com.ultrarepo.alice/licensed";
    private const string Minimum = "com.ultrarepo.alice/minimum";
    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"metered through the gateway"}}}""";

    private StripeStandIn _stripe = null!;
    private GatewayTestbed _bed = null!;
    private UpstreamMcpServer _second = null!;
    private UpstreamMcpServer _third = null!;
    private TestUser _admin = null!;
    private int _transactions;

    public async Task InitializeAsync()
    {
        _stripe = await StripeStandIn.StartAsync(SecretKey);
        _bed = await GatewayTestbed.StartAsync(provider, s =>
        {
            s["Billing:Mail:OutboxDirectory"] = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "outbox-" + Guid.NewGuid().ToString("N"));
            s["Billing:ScheduledClose"] = "false";
            s["Gateway:RequestsPerSecondPerKey"] = "100000";
            s["Gateway:BurstPerKey"] = "100000";
            StripeTestKit.Configure(s, _stripe);
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
        await _stripe.DisposeAsync();
    }

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

    private static string Cents(decimal amount) => ((long)(amount * 100)).ToString(CultureInfo.InvariantCulture);

    /// <summary>Closes the month and pays its one invoice through Stripe; returns the invoice.</summary>
    private async Task<JsonNode> CloseAndPayAsync(string period)
    {
        var before = _stripe.Requests.Count;
        Assert.Equal(HttpStatusCode.OK, (await _admin.Api.PostAsync($"/api/admin/billing/close?period={period}", null)).StatusCode);
        var summary = (await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/invoices"))!.Single(i => (string?)i!["period"] == period)!;
        var invoiceId = (string)summary["id"]!;
        var invoice = (await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{invoiceId}"))!;
        Assert.Equal("open", (string?)invoice["status"]);

        var item = _stripe.To("/v1/invoiceitems").Single(r => r.Form["description"].EndsWith($"({period})", StringComparison.Ordinal));
        Assert.Equal(Cents(Dec(invoice["amountDue"])), item["amount"]);
        Assert.Equal("usd", item["currency"]);
        Assert.Equal($"UltraRepo invoice {(string)invoice["number"]!} ({period})", item["description"]);
        var stripeInvoiceId = item["invoice"];
        Assert.Contains(_stripe.Requests.Skip(before), r => r.Path == $"/v1/invoices/{stripeInvoiceId}/send");

        var paid = Event("invoice.paid", PaidInvoice(stripeInvoiceId, invoiceId, long.Parse(item["amount"], CultureInfo.InvariantCulture)), _bed.App.Clock.GetUtcNow());
        Assert.Equal("applied", await _bed.OutcomeAsync(paid));
        Assert.Equal("duplicate", await _bed.OutcomeAsync(paid));
        invoice = (await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{invoiceId}"))!;
        Assert.Equal("paid", (string?)invoice["status"]);
        Assert.Equal("stripe", (string?)invoice["paymentProvider"]);
        return invoice;
    }

    [Fact]
    public async Task FullMonth_WithStripe_CheckoutInvoiceWebhooksTransfer_ReconcilesToZero()
    {
        // November: usage through the gateway and ingested, crossing the 100K tier.
        var metered = await SubscribeAsync(Metered);
        await SubscribeAsync(Minimum);
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

        // The license: Checkout, pending until Stripe's signed checkout.session.completed arrives.
        var checkout = await (await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Licensed })).ReadJsonAsync();
        var licenseId = (string)checkout["id"]!;
        Assert.Equal("pending", (string?)checkout["status"]);
        Assert.StartsWith("https://checkout.stripe.com/", (string?)checkout["checkoutUrl"]);
        var session = Assert.Single(_stripe.To("/v1/checkout/sessions"));
        Assert.Equal("2900", session["line_items[0][price_data][unit_amount]"]);
        Assert.Equal(licenseId, session["metadata[license_id]"]);
        var completed = Event("checkout.session.completed", PaidSession("cs_test_month", licenseId, "pi_test_month"), _bed.App.Clock.GetUtcNow());
        Assert.Equal("applied", await _bed.OutcomeAsync(completed));
        var licenseCall = await _bed.PostRpcAsync(Licensed, Call);
        Assert.Equal(HttpStatusCode.OK, licenseCall.StatusCode);
        await licenseCall.Content.ReadAsStringAsync();
        await _bed.SettledAsync();

        // Close November: the Stripe invoice is for the amount due (the license was paid at checkout), then paid.
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        var invoice = await CloseAndPayAsync("2026-11");
        var lines = invoice["lines"]!.AsArray();
        var licenseLine = lines.Single(l => (string?)l!["kind"] == "license")!;
        Assert.True((bool)licenseLine["prepaid"]!);
        Assert.Equal(Dec(invoice["total"]) - 29.00m, Dec(invoice["amountDue"]));
        Assert.True(Dec(invoice["amountDue"]) > 5.00m);
        var entries = await _bed.DbAsync(db => db.LedgerEntries.AsNoTracking().ToListAsync());
        Assert.All(entries.GroupBy(e => e.TransactionId), t => Assert.Equal(0m, t.Sum(e => e.Amount)));

        // The publisher's earnings go out as one Connect transfer.
        Assert.Equal(HttpStatusCode.NoContent, (await _bed.Publisher.Api.PutAsJsonAsync("/api/publisher/payout-account", new { stripeAccountId = "acct_1StandInAlice" })).StatusCode);
        var earnings = (await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))![0]!;
        var balance = Dec(earnings["balance"]);
        Assert.Equal(Dec(invoice["total"]) - Fees(lines), balance);
        var payouts = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();
        Assert.Equal(1, (int)payouts["created"]!);
        Assert.Equal("paid", (string?)payouts["payouts"]![0]!["status"]);
        var transfer = Assert.Single(_stripe.To("/v1/transfers"));
        Assert.Equal(Cents(balance), transfer["amount"]);
        Assert.Equal("acct_1StandInAlice", transfer["destination"]);
        Assert.Equal("2026-11", transfer["transfer_group"]);
        Assert.Equal("0.00", (string?)(await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))![0]!["balance"]);

        // Reconciliation: events → lines → ledger, zero difference.
        var report = (await _admin.Api.GetFromJsonAsync<JsonArray>("/api/admin/billing/reconciliation?period=2026-11"))!.Single()!;
        AssertZero(report);
        Assert.Equal(Dec(report["usageEventsCost"]), Dec(report["billedOnPeriodInvoices"]));
        Assert.Equal(Dec(report["ledgerCharges"]), Dec(report["invoicesTotal"]));

        // December (with a late November event) is charged to the same Stripe customer, and both months still reconcile.
        await IngestAsync(metered, 1_000, new DateTime(2026, 11, 30, 23, 0, 0, DateTimeKind.Utc));
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 20, 12, 0, 0, TimeSpan.Zero));
        await IngestAsync(metered, 200_000, new DateTime(2026, 12, 10, 8, 0, 0, DateTimeKind.Utc));
        await _bed.SettledAsync();
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2027, 1, 1, 3, 0, 0, TimeSpan.Zero));
        var december = await CloseAndPayAsync("2026-12");
        Assert.Contains(december["lines"]!.AsArray(), l => (string?)l!["kind"] == "late_usage");
        Assert.Single(_stripe.To("/v1/customers"));
        var stripeInvoices = _stripe.To("/v1/invoices");
        Assert.Equal(2, stripeInvoices.Count);
        Assert.Single(stripeInvoices.Select(r => r["customer"]).Distinct());
        AssertZero((await _admin.Api.GetFromJsonAsync<JsonArray>("/api/admin/billing/reconciliation?period=2026-11"))!.Single()!);
        AssertZero((await _admin.Api.GetFromJsonAsync<JsonArray>("/api/admin/billing/reconciliation?period=2026-12"))!.Single()!);

        AssertAuthenticated(_stripe);
        Assert.DoesNotContain(_bed.App.Logs.Lines, l => l.Contains(SecretKey, StringComparison.Ordinal) || l.Contains(WebhookSecret, StringComparison.Ordinal));
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
