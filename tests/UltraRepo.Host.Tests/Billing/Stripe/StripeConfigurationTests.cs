using System.Net;
using System.Text;
using Microsoft.Extensions.Options;
using UltraRepo.Billing;
using UltraRepo.Billing.Stripe;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing.Stripe;

/// <summary>Stripe is on exactly when <c>Billing:Stripe:SecretKey</c> is set, and refuses to start half-configured.</summary>
public sealed class StripeConfigurationTests
{
    [Fact]
    public async Task WithoutSecretKey_ManualPaymentsAndNoWebhookEndpoint()
    {
        await using var app = new MarketplaceApp();

        Assert.IsType<ManualPayments>(app.Service<IPaymentProvider>());
        var response = await app.CreateClient().PostAsync(StripeTestKit.WebhookPath, new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task WithSecretKey_StripePaymentsAndDocumentedWebhook()
    {
        await using var app = new MarketplaceApp(configure: s =>
        {
            s["Billing:Stripe:SecretKey"] = StripeTestKit.SecretKey;
            s["Billing:Stripe:WebhookSecret"] = StripeTestKit.WebhookSecret;
        });

        Assert.IsType<StripePayments>(app.Service<IPaymentProvider>());
        var options = app.Service<IOptions<StripeOptions>>().Value;
        Assert.Equal("https://api.stripe.com", options.ApiBase);
        Assert.Equal("http://localhost:5080/licenses?checkout=success&session_id={CHECKOUT_SESSION_ID}", options.SuccessUrl);
        Assert.Equal("http://localhost:5080/licenses?checkout=cancelled", options.CancelUrl);
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await client.GetAsync(StripeTestKit.WebhookPath)).StatusCode);
        Assert.Contains(StripeTestKit.WebhookPath, await client.GetStringAsync("/openapi/v1.json"), StringComparison.Ordinal);
        // The rest of the pipeline is untouched by the webhook's branch.
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/invoices")).StatusCode);
    }

    [Fact]
    public async Task SecretKeyWithoutWebhookSecret_RefusesToStart()
    {
        await using var app = new MarketplaceApp(configure: s => s["Billing:Stripe:SecretKey"] = StripeTestKit.SecretKey);

        var error = Assert.Throws<OptionsValidationException>(() => app.CreateClient());
        Assert.Contains("Billing:Stripe:WebhookSecret is required", error.Message, StringComparison.Ordinal);
    }
}
