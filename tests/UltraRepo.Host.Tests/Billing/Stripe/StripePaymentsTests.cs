using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Billing;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;
using static UltraRepo.Host.Tests.Billing.Stripe.StripeTestKit;

namespace UltraRepo.Host.Tests.Billing.Stripe;

public sealed class StripePaymentsTestsOnSqlite() : StripePaymentsTests(Provider.Sqlite);

public sealed class StripePaymentsTestsOnPostgres() : StripePaymentsTests(Provider.Postgres);

/// <summary>
/// The Stripe provider through the marketplace's HTTP API, with the real Stripe.net client talking to a local
/// stand-in: the exact requests it sends (checkout, invoice, refund, transfer) and what the signed webhooks do.
/// </summary>
public abstract class StripePaymentsTests(Provider provider) : IAsyncLifetime
{
    private const string Licensed = "com.ultrarepo.alice/licensed";
    private const string Minimum = "com.ultrarepo.alice/minimum";
    private const string Title = "Licensed Tools Pro";
    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"licensed"}}}""";

    private StripeStandIn _stripe = null!;
    private GatewayTestbed _bed = null!;
    private UpstreamMcpServer _second = null!;
    private TestUser _admin = null!;

    public async Task InitializeAsync()
    {
        _stripe = await StripeStandIn.StartAsync(SecretKey);
        _bed = await GatewayTestbed.StartAsync(provider, s =>
        {
            s["Billing:Mail:OutboxDirectory"] = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "outbox-" + Guid.NewGuid().ToString("N"));
            s["Billing:ScheduledClose"] = "false";
            StripeTestKit.Configure(s, _stripe);
        }, upstream: o => o.Stateless = true);
        _second = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        _admin = await _bed.App.CreateAdminAsync();
        var server = (Dictionary<string, object?>)Json.Server(Licensed, remotes: new[] { new { type = "streamable-http", url = _bed.Upstream.StreamableEndpoint.ToString() } });
        server["title"] = Title;
        (await _bed.Publisher.Api.PostAsJsonAsync("/v0.1/publish", server)).EnsureSuccessStatusCode();
        await _bed.WaitForRouteAsync(Licensed, "1.0.0");
        await _bed.PublishAsync(Minimum, _second.StreamableEndpoint);
        await _bed.SetPricingAsync(Licensed, new { model = "license", currency = "USD", license = new { price = "29.00" } });
        await _bed.SetPricingAsync(Minimum, new { model = "usage", currency = "USD", usage = new { pricePer1k = "0.01", minimumMonthlySpend = "5.00" } });
    }

    public async Task DisposeAsync()
    {
        await _bed.DisposeAsync();
        await _second.DisposeAsync();
        await _stripe.DisposeAsync();
    }

    private async Task<JsonNode> CheckoutAsync()
    {
        var response = await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Licensed });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    /// <summary>Checkout, then Stripe's checkout.session.completed: an active license paid by <paramref name="paymentIntent"/>.</summary>
    private async Task<string> BuyAsync(string paymentIntent)
    {
        var license = await CheckoutAsync();
        var id = (string)license["id"]!;
        var session = _stripe.To("/v1/checkout/sessions")[^1].IdempotencyKey!;
        Assert.EndsWith(Guid.Parse(id).ToString("N"), session);
        var payload = Event("checkout.session.completed", PaidSession("cs_test_paid", id, paymentIntent), _bed.App.Clock.GetUtcNow());
        Assert.Equal("applied", await _bed.OutcomeAsync(payload));
        return id;
    }

    private async Task<HttpStatusCode> CallLicensedAsync()
    {
        var response = await _bed.PostRpcAsync(Licensed, Call);
        await response.Content.ReadAsStringAsync();
        return response.StatusCode;
    }

    private Task<List<LedgerEntry>> LedgerAsync(string reference) =>
        _bed.DbAsync(db => db.LedgerEntries.AsNoTracking().Where(e => e.Reference == Guid.Parse(reference)).ToListAsync());

    [Fact]
    public async Task LicenseCheckout_CreatesStripeCheckoutSession_AndLicenseStaysPending()
    {
        var license = await CheckoutAsync();
        var id = (string)license["id"]!;

        var request = Assert.Single(_stripe.Requests);
        Assert.Equal("/v1/checkout/sessions", request.Path);
        AssertForm(request, new Dictionary<string, string>
        {
            ["mode"] = "payment",
            ["line_items[0][quantity]"] = "1",
            ["line_items[0][price_data][currency]"] = "usd",
            ["line_items[0][price_data][unit_amount]"] = "2900",
            ["line_items[0][price_data][product_data][name]"] = Title,
            ["client_reference_id"] = id,
            ["metadata[license_id]"] = id,
            ["payment_intent_data[metadata][license_id]"] = id,
            ["customer_email"] = _bed.Consumer.Email,
            ["success_url"] = PublicUrl + "/licenses?checkout=success&session_id={CHECKOUT_SESSION_ID}",
            ["cancel_url"] = PublicUrl + "/licenses?checkout=cancelled",
        });
        Assert.Equal("ultrarepo-checkout-" + Guid.Parse(id).ToString("N"), request.IdempotencyKey);
        AssertAuthenticated(_stripe);

        Assert.Equal("pending", (string?)license["status"]);
        Assert.Equal("stripe", (string?)license["provider"]);
        // sk_test_ keys are Stripe test mode: no money moves, and the license says so.
        Assert.True((bool)license["sandbox"]!);
        Assert.Null(license["key"]);
        Assert.Matches("^https://checkout\\.stripe\\.com/c/pay/cs_test_StandIn\\d+$", (string?)license["checkoutUrl"]);
        Assert.Equal("pending", (string?)(await _bed.LicenseAsync(id))["status"]);
        var stored = await _bed.DbAsync(db => db.Licenses.AsNoTracking().SingleAsync(l => l.Id == Guid.Parse(id)));
        Assert.Equal(((string)license["checkoutUrl"]!).Split('/')[^1], stored.CheckoutReference);
        Assert.NotEqual(HttpStatusCode.OK, await CallLicensedAsync());
        Assert.Empty(await LedgerAsync(id));
    }

    [Fact]
    public async Task CheckoutSessionCompleted_SignedWebhook_ActivatesLicenseOnce()
    {
        var id = (string)(await CheckoutAsync())["id"]!;
        Assert.NotEqual(HttpStatusCode.OK, await CallLicensedAsync());
        var payload = Event("checkout.session.completed", PaidSession("cs_test_paid", id, "pi_test_license"), _bed.App.Clock.GetUtcNow());

        var first = await _bed.DeliverAsync(payload);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var body = await first.ReadJsonAsync();
        Assert.Equal(IdOf(payload), (string?)body["eventId"]);
        Assert.Equal("applied", (string?)body["outcome"]);

        var license = await _bed.LicenseAsync(id);
        Assert.Equal("active", (string?)license["status"]);
        var key = (string)license["key"]!;
        var valid = await (await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key, server = Licensed })).ReadJsonAsync();
        Assert.True((bool)valid["valid"]!);
        Assert.Equal(HttpStatusCode.OK, await CallLicensedAsync());
        var stored = await _bed.DbAsync(db => db.Licenses.AsNoTracking().SingleAsync(l => l.Id == Guid.Parse(id)));
        Assert.Equal("pi_test_license", stored.PaymentReference);

        // Stripe delivers at least once: the same event again (re-signed later, as Stripe does) changes nothing.
        _bed.App.Clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal("duplicate", await _bed.OutcomeAsync(payload));
        Assert.Equal(key, (string?)(await _bed.LicenseAsync(id))["key"]);
        var ledger = await LedgerAsync(id);
        var sale = Assert.Single(ledger.GroupBy(e => e.TransactionId));
        Assert.All(sale, e => Assert.Equal(LedgerKinds.LicenseSale, e.Kind));
        Assert.Equal(0m, sale.Sum(e => e.Amount));
        Assert.Equal(-29.00m, sale.Single(e => e.Account.StartsWith("consumer:", StringComparison.Ordinal)).Amount);
        Assert.Equal(1, await _bed.DbAsync(db => db.ProcessedWebhooks.CountAsync(w => w.EventId == IdOf(payload))));

        // Event types the marketplace does not act on are acknowledged so Stripe stops retrying them.
        var other = Event("customer.created", new JsonObject { ["id"] = "cus_test_other", ["object"] = "customer" }, _bed.App.Clock.GetUtcNow());
        Assert.Equal("ignored", await _bed.OutcomeAsync(other));
        Assert.Single(_stripe.Requests);
    }

    [Fact]
    public async Task Webhook_BadOrMissingSignature_Returns400AndChangesNothing()
    {
        var id = (string)(await CheckoutAsync())["id"]!;
        var now = _bed.App.Clock.GetUtcNow();
        var payload = Event("checkout.session.completed", PaidSession("cs_test_forged", id, "pi_test_forged"), now);

        var wrongSecret = await _bed.DeliverAsync(payload, secret: "whsec_someone_else");
        var tampered = await _bed.DeliverRawAsync(payload.Replace("pi_test_forged", "pi_test_other", StringComparison.Ordinal), Sign(payload, now));
        var missing = await _bed.DeliverRawAsync(payload, null);
        var garbage = await _bed.DeliverRawAsync(payload, "not-a-signature");

        foreach (var response in new[] { wrongSecret, tampered, missing, garbage })
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.ReadJsonAsync();
            Assert.Equal(400, (int)problem["status"]!);
            Assert.Contains("Stripe-Signature", problem["errors"]![0]!["location"]!.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal("pending", (string?)(await _bed.LicenseAsync(id))["status"]);
        Assert.Equal(0, await _bed.DbAsync(db => db.ProcessedWebhooks.CountAsync()));
        Assert.Empty(await LedgerAsync(id));

        // The genuine delivery of the same event still works: a rejected forgery did not use up its id.
        Assert.Equal("applied", await _bed.OutcomeAsync(payload));
    }

    [Fact]
    public async Task Webhook_TimestampOlderThanTolerance_Returns400()
    {
        var id = (string)(await CheckoutAsync())["id"]!;
        var now = _bed.App.Clock.GetUtcNow();
        var payload = Event("checkout.session.completed", PaidSession("cs_test_replayed", id, "pi_test_replayed"), now);

        var expired = await _bed.DeliverAsync(payload, signedAt: now.AddSeconds(-301));
        Assert.Equal(HttpStatusCode.BadRequest, expired.StatusCode);
        Assert.Contains("tolerance", (string?)(await expired.ReadJsonAsync())["detail"], StringComparison.OrdinalIgnoreCase);
        Assert.Equal("pending", (string?)(await _bed.LicenseAsync(id))["status"]);

        // A signature captured once cannot be replayed after five minutes either.
        var captured = Sign(payload, now);
        _bed.App.Clock.Advance(TimeSpan.FromSeconds(301));
        Assert.Equal(HttpStatusCode.BadRequest, (await _bed.DeliverRawAsync(payload, captured)).StatusCode);
        Assert.Equal("pending", (string?)(await _bed.LicenseAsync(id))["status"]);

        var withinTolerance = await _bed.DeliverAsync(payload, signedAt: _bed.App.Clock.GetUtcNow().AddSeconds(-299));
        Assert.Equal(HttpStatusCode.OK, withinTolerance.StatusCode);
        Assert.Equal("active", (string?)(await _bed.LicenseAsync(id))["status"]);
    }

    [Fact]
    public async Task CloseMonth_ChargesInvoiceThroughStripe_AndSignedInvoicePaidBooksLedgerOnce()
    {
        (await _bed.Consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server = Minimum })).EnsureSuccessStatusCode();
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        var closed = await _admin.Api.PostAsync("/api/admin/billing/close?period=2026-11", null);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);

        var summary = (await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/invoices"))!.Single()!;
        var invoiceId = (string)summary["id"]!;
        Assert.Equal("5.00", (string?)summary["amountDue"]);
        var consumerId = await _bed.UserIdAsync(_bed.Consumer);

        var requests = _stripe.Requests.ToList();
        var stripeInvoice = requests.Single(r => r.Path == "/v1/invoices");
        var customerRequest = requests.Single(r => r.Path == "/v1/customers");
        var customerId = await _bed.DbAsync(db => db.PaymentCustomers.AsNoTracking().Where(c => c.ConsumerId == consumerId && c.Provider == "stripe").Select(c => c.CustomerId).SingleAsync());
        Assert.StartsWith("cus_test_", customerId);
        var stripeInvoiceId = await _bed.DbAsync(db => db.Invoices.AsNoTracking().Where(i => i.Id == Guid.Parse(invoiceId)).Select(i => i.PaymentReference).SingleAsync());
        Assert.StartsWith("in_test_", stripeInvoiceId);
        Assert.Equal(
            ["/v1/customers", "/v1/invoices", "/v1/invoiceitems", $"/v1/invoices/{stripeInvoiceId}/finalize", $"/v1/invoices/{stripeInvoiceId}/send"],
            requests.Select(r => r.Path));
        AssertForm(customerRequest, new Dictionary<string, string>
        {
            ["email"] = _bed.Consumer.Email,
            ["metadata[ultrarepo_consumer_id]"] = consumerId.ToString(),
        });
        AssertForm(stripeInvoice, new Dictionary<string, string>
        {
            ["customer"] = customerId,
            ["currency"] = "usd",
            ["collection_method"] = "send_invoice",
            ["days_until_due"] = "14",
            ["auto_advance"] = "false",
            ["pending_invoice_items_behavior"] = "exclude",
            ["metadata[ultrarepo_invoice_id]"] = invoiceId,
            ["metadata[ultrarepo_invoice_number]"] = "UR-000001",
        });
        AssertForm(requests[2], new Dictionary<string, string>
        {
            ["customer"] = customerId,
            ["invoice"] = stripeInvoiceId!,
            ["amount"] = "500",
            ["currency"] = "usd",
            ["description"] = "UltraRepo invoice UR-000001 (2026-11)",
        });
        AssertForm(requests[3], new Dictionary<string, string>());
        AssertForm(requests[4], new Dictionary<string, string>());
        var key = "ultrarepo-invoice-" + Guid.Parse(invoiceId).ToString("N");
        Assert.Equal(
            ["ultrarepo-customer-" + consumerId.ToString("N"), key, key + "-item", key + "-finalize", key + "-send"],
            requests.Select(r => r.IdempotencyKey));
        AssertAuthenticated(_stripe);

        var invoice = await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{invoiceId}");
        Assert.Equal("open", (string?)invoice!["status"]);
        Assert.Equal("stripe", (string?)invoice["paymentProvider"]);
        Assert.Empty(await _bed.DbAsync(db => db.LedgerEntries.AsNoTracking().Where(e => e.Kind == LedgerKinds.InvoiceLine).ToListAsync()));

        // The consumer pays on Stripe's hosted page; Stripe reports it.
        var paid = Event("invoice.paid", PaidInvoice(stripeInvoiceId!, invoiceId, 500), _bed.App.Clock.GetUtcNow());
        Assert.Equal("applied", await _bed.OutcomeAsync(paid));
        invoice = await _bed.Consumer.Api.GetFromJsonAsync<JsonNode>($"/api/invoices/{invoiceId}");
        Assert.Equal("paid", (string?)invoice!["status"]);
        Assert.Equal("stripe", (string?)invoice["paymentProvider"]);
        var booked = await _bed.DbAsync(db => db.LedgerEntries.AsNoTracking().Where(e => e.Kind == LedgerKinds.InvoiceLine).ToListAsync());
        Assert.Equal(-5.00m, booked.Where(e => e.Account == LedgerAccounts.Consumer(consumerId)).Sum(e => e.Amount));
        Assert.All(booked.GroupBy(e => e.TransactionId), t => Assert.Equal(0m, t.Sum(e => e.Amount)));

        // Redelivered, or reported again under a new event id: booked once.
        Assert.Equal("duplicate", await _bed.OutcomeAsync(paid));
        Assert.Equal("noChange", await _bed.OutcomeAsync(Event("invoice.paid", PaidInvoice(stripeInvoiceId!, invoiceId, 500), _bed.App.Clock.GetUtcNow())));
        Assert.Equal(booked.Count, await _bed.DbAsync(db => db.LedgerEntries.CountAsync(e => e.Kind == LedgerKinds.InvoiceLine)));
        Assert.Equal(5, _stripe.Requests.Count);
    }

    [Fact]
    public async Task ChargeRefunded_RevokesLicenseAndReversesSale()
    {
        var id = await BuyAsync("pi_test_refunded");
        var key = (string)(await _bed.LicenseAsync(id))["key"]!;
        Assert.Equal(HttpStatusCode.OK, await CallLicensedAsync());

        // A partial refund from the dashboard does not undo the sale.
        Assert.Equal("noChange", await _bed.OutcomeAsync(Event("charge.refunded", RefundedCharge("pi_test_refunded", 2900, 1000), _bed.App.Clock.GetUtcNow())));
        Assert.Equal("active", (string?)(await _bed.LicenseAsync(id))["status"]);

        var refunded = Event("charge.refunded", RefundedCharge("pi_test_refunded", 2900, 2900), _bed.App.Clock.GetUtcNow());
        Assert.Equal("applied", await _bed.OutcomeAsync(refunded));
        Assert.Equal("duplicate", await _bed.OutcomeAsync(refunded));

        Assert.Equal("revoked", (string?)(await _bed.LicenseAsync(id))["status"]);
        var valid = await (await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key, server = Licensed })).ReadJsonAsync();
        Assert.False((bool)valid["valid"]!);
        Assert.Equal("revoked", (string?)valid["reason"]);
        Assert.NotEqual(HttpStatusCode.OK, await CallLicensedAsync());
        var ledger = await LedgerAsync(id);
        Assert.Equal(2, ledger.GroupBy(e => e.TransactionId).Count());
        Assert.Equal([LedgerKinds.LicenseSale, LedgerKinds.Refund], ledger.Select(e => e.Kind).Distinct().Order(StringComparer.Ordinal));
        Assert.All(ledger.GroupBy(e => e.Account), a => Assert.Equal(0m, a.Sum(e => e.Amount)));
        // The money was returned by Stripe already: the marketplace did not ask for another refund.
        Assert.Empty(_stripe.To("/v1/refunds"));
    }

    [Fact]
    public async Task AdminRefund_RefundsPaymentIntentAtStripe_AndStripesLaterWebhookChangesNothing()
    {
        var id = await BuyAsync("pi_test_admin_refund");

        Assert.Equal(HttpStatusCode.NoContent, (await _admin.Api.PostAsync($"/api/admin/licenses/{id}/refund", null)).StatusCode);

        var refund = Assert.Single(_stripe.To("/v1/refunds"));
        AssertForm(refund, new Dictionary<string, string>
        {
            ["payment_intent"] = "pi_test_admin_refund",
            ["metadata[license_id]"] = id,
        });
        Assert.Equal("ultrarepo-refund-" + Guid.Parse(id).ToString("N"), refund.IdempotencyKey);
        AssertAuthenticated(_stripe);
        Assert.Equal("revoked", (string?)(await _bed.LicenseAsync(id))["status"]);
        Assert.Equal(HttpStatusCode.Conflict, (await _admin.Api.PostAsync($"/api/admin/licenses/{id}/refund", null)).StatusCode);

        Assert.Equal("noChange", await _bed.OutcomeAsync(Event("charge.refunded", RefundedCharge("pi_test_admin_refund", 2900, 2900), _bed.App.Clock.GetUtcNow())));
        var ledger = await LedgerAsync(id);
        Assert.Single(ledger.Where(e => e.Kind == LedgerKinds.Refund).GroupBy(e => e.TransactionId));
        Assert.All(ledger.GroupBy(e => e.Account), a => Assert.Equal(0m, a.Sum(e => e.Amount)));
        Assert.Single(_stripe.To("/v1/refunds"));
    }

    [Fact]
    public async Task AdminRefund_AlreadyRefundedInStripe_StillRevokes()
    {
        var id = await BuyAsync("pi_test_dashboard_refund");
        _stripe.FailNext("/v1/refunds", 400, "charge_already_refunded", "Charge ch_test has already been refunded.");

        Assert.Equal(HttpStatusCode.NoContent, (await _admin.Api.PostAsync($"/api/admin/licenses/{id}/refund", null)).StatusCode);

        Assert.Equal("revoked", (string?)(await _bed.LicenseAsync(id))["status"]);
        Assert.Single(_stripe.To("/v1/refunds"));
    }

    [Fact]
    public async Task PayoutRun_SendsConnectTransferToPublishersAccount()
    {
        await BuyAsync("pi_test_payout");
        Assert.Equal(HttpStatusCode.NoContent, (await _bed.Publisher.Api.PutAsJsonAsync("/api/publisher/payout-account", new { stripeAccountId = "acct_1StandInAlice" })).StatusCode);
        var publisherId = await _bed.UserIdAsync(_bed.Publisher);
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero)); // payouts are for ended months

        var run = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();

        var payout = run["payouts"]!.AsArray().Single()!;
        var transfer = Assert.Single(_stripe.To("/v1/transfers"));
        AssertForm(transfer, new Dictionary<string, string>
        {
            ["amount"] = "2030",
            ["currency"] = "usd",
            ["destination"] = "acct_1StandInAlice",
            ["transfer_group"] = "2026-11",
            ["description"] = "UltraRepo earnings 2026-11",
            ["metadata[ultrarepo_payout_id]"] = (string)payout["id"]!,
            ["metadata[ultrarepo_publisher_id]"] = publisherId.ToString(),
        });
        Assert.Equal("ultrarepo-payout-" + Guid.Parse((string)payout["id"]!).ToString("N"), transfer.IdempotencyKey);
        AssertAuthenticated(_stripe);
        Assert.Equal(20.30m, (decimal)payout["amount"]!);
        Assert.Equal("paid", (string?)payout["status"]);
        Assert.Equal("stripe", (string?)payout["provider"]);
        Assert.Equal("acct_1StandInAlice", (string?)payout["destination"]);
        Assert.StartsWith("tr_test_", (string?)payout["transferId"]);
        var earnings = (await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))!.Single()!;
        Assert.Equal("0.00", (string?)earnings["balance"]);
        Assert.Equal("20.30", (string?)earnings["paid"]);

        var rerun = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();
        Assert.Equal(0, (int)rerun["created"]!);
        Assert.Single(_stripe.To("/v1/transfers"));
    }

    [Fact]
    public async Task PayoutRun_WithoutPayoutAccount_SendsNothingAndStaysPending()
    {
        await BuyAsync("pi_test_no_account");
        _bed.App.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero)); // payouts are for ended months

        var run = await (await _admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-11", null)).ReadJsonAsync();

        var payout = run["payouts"]!.AsArray().Single()!;
        Assert.Equal("pending", (string?)payout["status"]);
        Assert.Null(payout["transferId"]);
        Assert.Empty(_stripe.To("/v1/transfers"));
    }
}
