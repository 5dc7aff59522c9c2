namespace UltraRepo.Host.Tests.Billing.Stripe;

/// <summary>The tests sign webhooks themselves; this pins that signing to Stripe.net's own computation.</summary>
public sealed class StripeSignatureTests
{
    [Fact]
    public void Sign_MatchesStripeNetsSignature()
    {
        var at = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
        var payload = StripeTestKit.Event("invoice.paid", new() { ["id"] = "in_test_1", ["object"] = "invoice" }, at);
        var t = at.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var stripeNets = global::Stripe.EventUtility.ComputeSignature(StripeTestKit.WebhookSecret, t, payload);

        Assert.Equal($"t={t},v1={stripeNets}", StripeTestKit.Sign(payload, at));
    }
}
