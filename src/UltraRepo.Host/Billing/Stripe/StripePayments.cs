using global::Stripe;
using global::Stripe.Checkout;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;
using UltraRepo.Domain.Common;

namespace UltraRepo.Billing.Stripe;

/// <summary>
/// Stripe as the payment provider, through Stripe.net: Checkout Sessions for licenses, hosted Stripe
/// invoices for monthly charges, refunds of a license's PaymentIntent and Connect transfers for payouts.
/// Nothing here marks anything paid: <see cref="StripeEvents"/> does that when the signed webhook arrives.
/// Every request carries an idempotency key derived from the marketplace's own id, so a retried call
/// never creates a second session, invoice, refund or transfer.
/// </summary>
public sealed class StripePayments(IOptions<StripeOptions> options, IServiceScopeFactory scopes, ILogger<StripePayments> logger) : IPaymentProvider
{
    public const string ProviderName = "stripe";

    private readonly StripeClient _stripe = new(options.Value.SecretKey, apiBase: options.Value.ApiBase);

    public string Name => ProviderName;

    /// <summary>Stripe test mode (<c>sk_test_</c> keys) moves no money.</summary>
    public bool IsSandbox => options.Value.SecretKey?.StartsWith("sk_test_", StringComparison.Ordinal) == true;

    public async Task<CheckoutResult> StartLicenseCheckoutAsync(License license, string title, string consumerEmail, CancellationToken ct)
    {
        var licenseId = license.Id.ToString();
        var session = await _stripe.V1.Checkout.Sessions.CreateAsync(new SessionCreateOptions
        {
            Mode = "payment",
            LineItems =
            [
                new SessionLineItemOptions
                {
                    Quantity = 1,
                    PriceData = new SessionLineItemPriceDataOptions
                    {
                        Currency = StripeAmounts.Currency(license.Currency),
                        UnitAmount = StripeAmounts.MinorUnits(license.Price, license.Currency),
                        ProductData = new SessionLineItemPriceDataProductDataOptions { Name = title },
                    },
                },
            ],
            ClientReferenceId = licenseId,
            Metadata = new Dictionary<string, string> { [StripeMetadata.LicenseId] = licenseId },
            PaymentIntentData = new SessionPaymentIntentDataOptions
            {
                Metadata = new Dictionary<string, string> { [StripeMetadata.LicenseId] = licenseId },
            },
            CustomerEmail = consumerEmail,
            SuccessUrl = options.Value.SuccessUrl,
            CancelUrl = options.Value.CancelUrl,
        }, Idempotent($"checkout-{license.Id:N}"), ct);
        return new CheckoutResult(Completed: false, Reference: session.Id, RedirectUrl: session.Url);
    }

    /// <summary>
    /// A Stripe invoice the consumer pays on Stripe's hosted page. The invoice is created first and the
    /// amount is added to it by id (rather than as a pending item swept in by <c>include</c>), so an item
    /// left over from a failed attempt can never be charged on another invoice.
    /// </summary>
    public async Task<ChargeResult> ChargeInvoiceAsync(Invoice invoice, string consumerEmail, CancellationToken ct)
    {
        var customer = await CustomerAsync(invoice.ConsumerId, consumerEmail, ct);
        var currency = StripeAmounts.Currency(invoice.Currency);
        var key = $"invoice-{invoice.Id:N}";
        var created = await _stripe.V1.Invoices.CreateAsync(new InvoiceCreateOptions
        {
            Customer = customer,
            Currency = currency,
            CollectionMethod = "send_invoice",
            DaysUntilDue = 14,
            // Finalized and sent below, once; Stripe must not finalize the draft on its own.
            AutoAdvance = false,
            PendingInvoiceItemsBehavior = "exclude",
            Metadata = new Dictionary<string, string>
            {
                [StripeMetadata.InvoiceId] = invoice.Id.ToString(),
                [StripeMetadata.InvoiceNumber] = invoice.Number,
            },
        }, Idempotent(key), ct);
        await _stripe.V1.InvoiceItems.CreateAsync(new InvoiceItemCreateOptions
        {
            Customer = customer,
            Invoice = created.Id,
            Amount = StripeAmounts.MinorUnits(invoice.AmountDue, invoice.Currency),
            Currency = currency,
            Description = $"UltraRepo invoice {invoice.Number} ({invoice.Period})",
        }, Idempotent(key + "-item"), ct);
        var finalized = await _stripe.V1.Invoices.FinalizeInvoiceAsync(created.Id, null, Idempotent(key + "-finalize"), ct);
        var sent = await _stripe.V1.Invoices.SendInvoiceAsync(created.Id, null, Idempotent(key + "-send"), ct);
        return new ChargeResult(Paid: false, Reference: created.Id, PaymentUrl: sent.HostedInvoiceUrl ?? finalized.HostedInvoiceUrl);
    }

    public async Task<RefundResult> RefundLicenseAsync(License license, CancellationToken ct)
    {
        if (license.Provider != ProviderName)
        {
            // Bought before Stripe was configured: a sandbox purchase took no money, anything else cannot be refunded here.
            return new RefundResult(Refunded: license.Sandbox, Reference: null);
        }

        if (string.IsNullOrEmpty(license.PaymentReference))
        {
            logger.LogWarning("License {License} has no PaymentIntent to refund", license.Id);
            return new RefundResult(Refunded: false, Reference: null);
        }

        try
        {
            var refund = await _stripe.V1.Refunds.CreateAsync(new RefundCreateOptions
            {
                PaymentIntent = license.PaymentReference,
                Metadata = new Dictionary<string, string> { [StripeMetadata.LicenseId] = license.Id.ToString() },
            }, Idempotent($"refund-{license.Id:N}"), ct);
            return new RefundResult(Refunded: true, Reference: refund.Id);
        }
        catch (StripeException e) when (e.StripeError?.Code == "charge_already_refunded")
        {
            // Refunded in the dashboard and its webhook not yet here: the money is back either way.
            return new RefundResult(Refunded: true, Reference: null);
        }
    }

    public async Task<TransferResult> TransferAsync(Payout payout, string? destinationAccount, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(destinationAccount))
        {
            return new TransferResult(Sent: false, Reference: null);
        }

        var transfer = await _stripe.V1.Transfers.CreateAsync(new TransferCreateOptions
        {
            Amount = StripeAmounts.MinorUnits(payout.Amount, payout.Currency),
            Currency = StripeAmounts.Currency(payout.Currency),
            Destination = destinationAccount,
            TransferGroup = payout.Period,
            Description = $"UltraRepo earnings {payout.Period}",
            Metadata = new Dictionary<string, string>
            {
                [StripeMetadata.PayoutId] = payout.Id.ToString(),
                [StripeMetadata.PublisherId] = payout.PublisherId.ToString(),
            },
        }, Idempotent($"payout-{payout.Id:N}"), ct);
        return new TransferResult(Sent: true, Reference: transfer.Id);
    }

    /// <summary>The consumer's Stripe Customer, created on the first charge and kept in <c>payment_customers</c>.</summary>
    private async Task<string> CustomerAsync(Guid consumerId, string email, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var stored = await StoredCustomerAsync(db, consumerId, ct);
        if (stored is not null)
        {
            return stored;
        }

        var customer = await _stripe.V1.Customers.CreateAsync(new CustomerCreateOptions
        {
            Email = email,
            Metadata = new Dictionary<string, string> { [StripeMetadata.ConsumerId] = consumerId.ToString() },
        }, Idempotent($"customer-{consumerId:N}"), ct);
        db.PaymentCustomers.Add(new PaymentCustomer { ConsumerId = consumerId, Provider = ProviderName, CustomerId = customer.Id });
        try
        {
            await db.SaveChangesAsync(ct);
            return customer.Id;
        }
        catch (DbUpdateException)
        {
            // A concurrent charge stored it first (the idempotency key made both calls return the same customer).
            db.ChangeTracker.Clear();
            return await StoredCustomerAsync(db, consumerId, ct) ?? customer.Id;
        }
    }

    private static Task<string?> StoredCustomerAsync(MarketplaceDb db, Guid consumerId, CancellationToken ct) =>
        db.PaymentCustomers.AsNoTracking().Where(c => c.ConsumerId == consumerId && c.Provider == ProviderName).Select(c => c.CustomerId).FirstOrDefaultAsync(ct);

    private static RequestOptions Idempotent(string key) => new() { IdempotencyKey = "ultrarepo-" + key };
}

/// <summary>The metadata keys the marketplace puts on Stripe objects to find its own records again.</summary>
internal static class StripeMetadata
{
    public const string LicenseId = "license_id";
    public const string InvoiceId = "ultrarepo_invoice_id";
    public const string InvoiceNumber = "ultrarepo_invoice_number";
    public const string ConsumerId = "ultrarepo_consumer_id";
    public const string PayoutId = "ultrarepo_payout_id";
    public const string PublisherId = "ultrarepo_publisher_id";
}

/// <summary>Amounts as Stripe takes them: integers in the currency's minor unit, currency codes in lower case.</summary>
internal static class StripeAmounts
{
    /// <summary>29.00 USD → 2900, 500 JPY → 500. Amounts reach a provider already rounded; anything finer is a bug, not something to round away.</summary>
    public static long MinorUnits(decimal amount, string currency)
    {
        if (Money.Round(amount, currency) != amount)
        {
            throw new ArgumentException($"{amount} {currency} has more digits than the currency's minor unit", nameof(amount));
        }

        var scale = 1m;
        for (var i = Money.MinorUnitDigits(currency); i > 0; i--)
        {
            scale *= 10;
        }

        return decimal.ToInt64(amount * scale);
    }

    public static string Currency(string currency) => currency.ToLowerInvariant();
}
