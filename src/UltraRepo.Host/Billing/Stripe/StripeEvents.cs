using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using StripeCharge = global::Stripe.Charge;
using StripeEvent = global::Stripe.Event;
using StripeInvoice = global::Stripe.Invoice;
using StripeSession = global::Stripe.Checkout.Session;

namespace UltraRepo.Billing.Stripe;

public enum WebhookOutcome
{
    /// <summary>The event changed something (license activated or revoked, invoice paid).</summary>
    Applied,

    /// <summary>A handled event that found nothing left to do (already active, already paid, unknown reference).</summary>
    NoChange,

    /// <summary>This event id was processed before: nothing was done again.</summary>
    Duplicate,

    /// <summary>An event type the marketplace does not act on.</summary>
    Ignored,
}

/// <summary>
/// Applies verified Stripe events, each event id once: the id is recorded in <c>processed_webhooks</c> before
/// anything else, so a repeated (or concurrent) delivery finds it and does nothing. If applying fails the
/// record is removed again and the error answered with 500, so Stripe's retry gets a second chance; the
/// operations themselves (activation, marking paid, refund) are idempotent as well.
/// </summary>
public sealed class StripeEvents(MarketplaceDb db, LicenseSales licenses, InvoicePayments invoices, TimeProvider clock, ILogger<StripeEvents> logger)
{
    public const string CheckoutCompleted = "checkout.session.completed";
    public const string CheckoutAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded";
    public const string InvoicePaid = "invoice.paid";
    public const string ChargeRefunded = "charge.refunded";

    public async Task<WebhookOutcome> ApplyAsync(StripeEvent stripeEvent, CancellationToken ct)
    {
        if (stripeEvent.Type is not (CheckoutCompleted or CheckoutAsyncPaymentSucceeded or InvoicePaid or ChargeRefunded))
        {
            return WebhookOutcome.Ignored;
        }

        if (!await ClaimAsync(stripeEvent, ct))
        {
            return WebhookOutcome.Duplicate;
        }

        try
        {
            var applied = stripeEvent.Data.Object switch
            {
                StripeSession session => await CheckoutPaidAsync(stripeEvent, session, ct),
                StripeInvoice invoice => await InvoicePaidAsync(invoice, ct),
                StripeCharge charge => await ChargeRefundedAsync(charge, ct),
                _ => Unexpected(stripeEvent),
            };
            return applied ? WebhookOutcome.Applied : WebhookOutcome.NoChange;
        }
        catch
        {
            db.ChangeTracker.Clear();
            await db.ProcessedWebhooks.Where(w => w.EventId == stripeEvent.Id).ExecuteDeleteAsync(CancellationToken.None);
            throw;
        }
    }

    private async Task<bool> ClaimAsync(StripeEvent stripeEvent, CancellationToken ct)
    {
        if (await db.ProcessedWebhooks.AnyAsync(w => w.EventId == stripeEvent.Id, ct))
        {
            return false;
        }

        db.ProcessedWebhooks.Add(new ProcessedWebhook { EventId = stripeEvent.Id, Type = stripeEvent.Type, ProcessedAt = clock.GetUtcNow().UtcDateTime });
        try
        {
            await db.SaveChangesAsync(ct);
            return true;
        }
        catch (DbUpdateException)
        {
            // The same event delivered concurrently: the other delivery applies it.
            db.ChangeTracker.Clear();
            return false;
        }
    }

    private async Task<bool> CheckoutPaidAsync(StripeEvent stripeEvent, StripeSession session, CancellationToken ct)
    {
        // Delayed payment methods complete the session unpaid; their async_payment_succeeded event activates.
        if (stripeEvent.Type == CheckoutCompleted && session.PaymentStatus == "unpaid")
        {
            logger.LogInformation("Checkout {Session} completed, payment pending", session.Id);
            return false;
        }

        var reference = session.Metadata?.GetValueOrDefault(StripeMetadata.LicenseId) ?? session.ClientReferenceId;
        if (!Guid.TryParse(reference, out var licenseId))
        {
            logger.LogWarning("Checkout {Session} carries no license id", session.Id);
            return false;
        }

        return await licenses.ActivateAsync(licenseId, session.PaymentIntentId, ct);
    }

    private async Task<bool> InvoicePaidAsync(StripeInvoice invoice, CancellationToken ct)
    {
        if (!Guid.TryParse(invoice.Metadata?.GetValueOrDefault(StripeMetadata.InvoiceId), out var invoiceId))
        {
            logger.LogInformation("Stripe invoice {Invoice} is not a marketplace invoice", invoice.Id);
            return false;
        }

        return await invoices.MarkPaidAsync(invoiceId, StripePayments.ProviderName, invoice.Id, ct);
    }

    private async Task<bool> ChargeRefundedAsync(StripeCharge charge, CancellationToken ct)
    {
        // A partial refund (from the dashboard) does not undo a sale; only the full refund revokes the license.
        if (!charge.Refunded || string.IsNullOrEmpty(charge.PaymentIntentId))
        {
            logger.LogWarning("Charge {Charge} partly refunded ({Refunded} of {Amount}); the license stays active", charge.Id, charge.AmountRefunded, charge.Amount);
            return false;
        }

        var licenseId = await db.Licenses.AsNoTracking()
            .Where(l => l.Provider == StripePayments.ProviderName && l.PaymentReference == charge.PaymentIntentId)
            .Select(l => (Guid?)l.Id).FirstOrDefaultAsync(ct);
        if (licenseId is null)
        {
            logger.LogInformation("Refunded charge {Charge} paid for no license", charge.Id);
            return false;
        }

        return await licenses.RefundAsync(licenseId.Value, refundAtProvider: false, ct);
    }

    private bool Unexpected(StripeEvent stripeEvent)
    {
        logger.LogWarning("Stripe event {Event} ({Type}) carries a {Object}", stripeEvent.Id, stripeEvent.Type, stripeEvent.Data.Object?.Object);
        return false;
    }
}
