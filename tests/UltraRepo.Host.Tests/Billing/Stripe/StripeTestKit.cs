using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing.Stripe;

/// <summary>Settings that point the marketplace at a <see cref="StripeStandIn"/>, and webhook deliveries signed the way Stripe signs them.</summary>
public static class StripeTestKit
{
    public const string SecretKey = "sk_test_51UltraRepoStandInSecretKey";
    public const string WebhookSecret = "whsec_UltraRepoStandInWebhookSecret";
    public const string PublicUrl = "https://market.example.test";
    public const string WebhookPath = "/api/payments/stripe/webhook";

    public static void Configure(Dictionary<string, string?> settings, StripeStandIn stripe)
    {
        settings["Billing:Stripe:SecretKey"] = SecretKey;
        settings["Billing:Stripe:WebhookSecret"] = WebhookSecret;
        settings["Billing:Stripe:ApiBase"] = stripe.BaseAddress.ToString().TrimEnd('/');
        settings["ULTRAREPO_PUBLIC_URL"] = PublicUrl;
    }

    /// <summary><c>t=&lt;unix&gt;,v1=&lt;hex HMAC-SHA256 of "{t}.{payload}" keyed with the endpoint secret&gt;</c>, as Stripe sends it.</summary>
    public static string Sign(string payload, DateTimeOffset at, string secret = WebhookSecret)
    {
        var t = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{t}.{payload}"));
        return $"t={t},v1={Convert.ToHexStringLower(mac)}";
    }

    /// <summary>An event in Stripe's envelope, at the API version Stripe.net is pinned to.</summary>
    public static string Event(string type, JsonObject dataObject, DateTimeOffset created, string? id = null) => new JsonObject
    {
        ["id"] = id ?? "evt_test_" + Guid.NewGuid().ToString("N")[..24],
        ["object"] = "event",
        ["api_version"] = global::Stripe.StripeConfiguration.ApiVersion,
        ["created"] = created.ToUnixTimeSeconds(),
        ["livemode"] = false,
        ["pending_webhooks"] = 1,
        ["request"] = new JsonObject { ["id"] = null, ["idempotency_key"] = null },
        ["type"] = type,
        ["data"] = new JsonObject { ["object"] = dataObject },
    }.ToJsonString();

    public static string IdOf(string payload) => (string)JsonNode.Parse(payload)!["id"]!;

    public static JsonObject PaidSession(string sessionId, string licenseId, string paymentIntent, long amount = 2900, string paymentStatus = "paid") => new()
    {
        ["id"] = sessionId,
        ["object"] = "checkout.session",
        ["mode"] = "payment",
        ["status"] = "complete",
        ["payment_status"] = paymentStatus,
        ["client_reference_id"] = licenseId,
        ["payment_intent"] = paymentIntent,
        ["amount_total"] = amount,
        ["currency"] = "usd",
        ["metadata"] = new JsonObject { ["license_id"] = licenseId },
        ["livemode"] = false,
    };

    public static JsonObject PaidInvoice(string stripeInvoiceId, string invoiceId, long amount) => new()
    {
        ["id"] = stripeInvoiceId,
        ["object"] = "invoice",
        ["status"] = "paid",
        ["collection_method"] = "send_invoice",
        ["currency"] = "usd",
        ["amount_due"] = amount,
        ["amount_paid"] = amount,
        ["amount_remaining"] = 0,
        ["metadata"] = new JsonObject { ["ultrarepo_invoice_id"] = invoiceId },
        ["livemode"] = false,
    };

    public static JsonObject RefundedCharge(string paymentIntent, long amount, long refunded) => new()
    {
        ["id"] = "ch_test_" + Guid.NewGuid().ToString("N")[..24],
        ["object"] = "charge",
        ["amount"] = amount,
        ["amount_refunded"] = refunded,
        ["currency"] = "usd",
        ["paid"] = true,
        ["captured"] = true,
        ["refunded"] = refunded == amount,
        ["status"] = "succeeded",
        ["payment_intent"] = paymentIntent,
        ["livemode"] = false,
    };

    /// <summary>Posts a delivery to the marketplace's webhook, signed now (by the marketplace's clock) unless told otherwise.</summary>
    public static Task<HttpResponseMessage> DeliverAsync(this GatewayTestbed bed, string payload, DateTimeOffset? signedAt = null, string secret = WebhookSecret) =>
        bed.DeliverRawAsync(payload, Sign(payload, signedAt ?? bed.App.Clock.GetUtcNow(), secret));

    public static Task<HttpResponseMessage> DeliverRawAsync(this GatewayTestbed bed, string payload, string? signatureHeader)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, WebhookPath) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        if (signatureHeader is not null)
        {
            request.Headers.TryAddWithoutValidation("Stripe-Signature", signatureHeader);
        }

        return bed.App.CreateClient().SendAsync(request);
    }

    /// <summary>Delivers and returns the endpoint's outcome (<c>applied</c>, <c>noChange</c>, <c>duplicate</c>, <c>ignored</c>), failing on anything but 200.</summary>
    public static async Task<string> OutcomeAsync(this GatewayTestbed bed, string payload)
    {
        var response = await bed.DeliverAsync(payload);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return (string)JsonNode.Parse(body)!["outcome"]!;
    }

    public static async Task<T> DbAsync<T>(this GatewayTestbed bed, Func<MarketplaceDb, Task<T>> query)
    {
        using var scope = bed.App.Services.CreateScope();
        return await query(scope.ServiceProvider.GetRequiredService<MarketplaceDb>());
    }

    public static Task<Guid> UserIdAsync(this GatewayTestbed bed, TestUser user) =>
        bed.DbAsync(db => db.Users.AsNoTracking().Where(u => u.Handle == user.Handle).Select(u => u.Id).SingleAsync());

    public static async Task<JsonNode> LicenseAsync(this GatewayTestbed bed, string id) =>
        (await bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/licenses"))!.Single(l => (string?)l!["id"] == id)!;

    /// <summary>The form exactly: every key Stripe.net sent, and no other.</summary>
    public static void AssertForm(StripeRequest request, IReadOnlyDictionary<string, string> expected)
    {
        var sent = string.Join("\n", request.Form.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}"));
        var wanted = string.Join("\n", expected.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}"));
        Assert.Equal(wanted, sent);
    }

    /// <summary>Every request the marketplace sent to Stripe authenticated with the secret key at the pinned API version.</summary>
    public static void AssertAuthenticated(StripeStandIn stripe)
    {
        Assert.NotEmpty(stripe.Requests);
        Assert.All(stripe.Requests, r =>
        {
            Assert.Equal("POST", r.Method);
            Assert.Equal("Bearer " + SecretKey, r.Authorization);
            Assert.Equal(global::Stripe.StripeConfiguration.ApiVersion, r.StripeVersion);
            Assert.StartsWith("ultrarepo-", r.IdempotencyKey);
        });
    }
}
