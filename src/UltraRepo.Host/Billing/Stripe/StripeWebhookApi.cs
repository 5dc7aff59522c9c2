using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using UltraRepo.Http;
using EventUtility = global::Stripe.EventUtility;
using StripeEvent = global::Stripe.Event;
using StripeException = global::Stripe.StripeException;

namespace UltraRepo.Billing.Stripe;

/// <summary><c>POST /api/payments/stripe/webhook</c>: Stripe's signed event deliveries.</summary>
public static class StripeWebhookApi
{
    public const string Path = "/api/payments/stripe/webhook";

    /// <summary>How old a signature may be (Stripe's own default), against the marketplace's clock.</summary>
    public const long ToleranceSeconds = 300;

    public sealed record WebhookResponse(bool Received, string EventId, string Type, WebhookOutcome Outcome);

    public static IEndpointRouteBuilder MapStripeWebhook(this IEndpointRouteBuilder app)
    {
        app.MapPost(Path, Receive).WithTags("Payments").AllowAnonymous()
            .WithSummary("Stripe webhook: checkout.session.completed, invoice.paid, charge.refunded (verified by Stripe-Signature)");
        return app;
    }

    private static async Task<Results<Ok<WebhookResponse>, ProblemHttpResult>> Receive(
        HttpRequest request, StripeEvents events, IOptions<StripeOptions> options, TimeProvider clock, CancellationToken ct)
    {
        var signature = request.Headers["Stripe-Signature"].ToString();
        if (string.IsNullOrEmpty(signature))
        {
            return Problems.Validation("header.Stripe-Signature", "the Stripe-Signature header is missing");
        }

        // The signature covers the exact bytes Stripe sent.
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var json = await reader.ReadToEndAsync(ct);
        StripeEvent stripeEvent;
        try
        {
            stripeEvent = EventUtility.ConstructEvent(json, signature, options.Value.WebhookSecret, ToleranceSeconds,
                clock.GetUtcNow().ToUnixTimeSeconds(), throwOnApiVersionMismatch: false);
        }
        catch (StripeException e)
        {
            return Problems.Validation("header.Stripe-Signature", e.Message);
        }
        catch (JsonException)
        {
            return Problems.Validation("body", "the body is not a Stripe event");
        }

        var outcome = await events.ApplyAsync(stripeEvent, ct);
        return TypedResults.Ok(new WebhookResponse(true, stripeEvent.Id, stripeEvent.Type, outcome));
    }
}
