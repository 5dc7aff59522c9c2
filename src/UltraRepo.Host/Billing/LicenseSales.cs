using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Pricing;
using UltraRepo.Subscriptions;

namespace UltraRepo.Billing;

public abstract record CheckoutOutcome
{
    public sealed record Started(License License, string? CheckoutUrl, bool Sandbox) : CheckoutOutcome;
    public sealed record NotForSale(string Message) : CheckoutOutcome;
    public sealed record AlreadyLicensed(Guid LicenseId) : CheckoutOutcome;
    public sealed record UnknownListing : CheckoutOutcome;
}

/// <summary>
/// One-time license purchases: checkout through the payment provider, activation (key issued, sale
/// booked in the ledger, gateway entitlement granted) when payment succeeds, and refunds (key revoked,
/// sale reversed).
/// </summary>
public sealed class LicenseSales(
    MarketplaceDb db, IPaymentProvider payments, LicenseSigner signer, PricingCatalog pricing, Entitlements entitlements,
    IOptions<BillingOptions> options, TimeProvider clock)
{
    public async Task<CheckoutOutcome> CheckoutAsync(Guid consumerId, string serverName, CancellationToken ct)
    {
        var listing = await db.Listings.AsNoTracking().FirstOrDefaultAsync(l => l.ServerName == serverName, ct);
        if (listing is null)
        {
            return new CheckoutOutcome.UnknownListing();
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var plan = (await pricing.AtAsync(serverName, now, ct)).Plan;
        if (plan.License is null)
        {
            return new CheckoutOutcome.NotForSale($"{serverName} is not sold as a license (its pricing model is {plan.Model.ToString().ToLowerInvariant()})");
        }

        var owned = await db.Licenses.AsNoTracking().FirstOrDefaultAsync(l => l.ConsumerId == consumerId && l.ServerName == serverName && l.Status == LicenseStatus.Active, ct);
        if (owned is not null)
        {
            return new CheckoutOutcome.AlreadyLicensed(owned.Id);
        }

        var license = new License
        {
            ConsumerId = consumerId,
            ServerName = serverName,
            PublisherId = listing.OwnerId,
            Price = plan.License.Price,
            Currency = plan.Currency,
            Provider = payments.Name,
            Sandbox = payments.IsSandbox,
            CreatedAt = now,
        };
        db.Licenses.Add(license);
        await db.SaveChangesAsync(ct);

        var title = await db.RegistryEntries.AsNoTracking().Where(e => e.ServerName == serverName && e.IsLatest).Select(e => e.Title).FirstOrDefaultAsync(ct) ?? serverName;
        var email = await db.Users.AsNoTracking().Where(u => u.Id == consumerId).Select(u => u.Email).FirstAsync(ct);
        var checkout = await payments.StartLicenseCheckoutAsync(license, title, email, ct);
        license.CheckoutReference = checkout.Reference;
        await db.SaveChangesAsync(ct);
        if (checkout.Completed)
        {
            await ActivateAsync(license.Id, checkout.PaymentReference ?? checkout.Reference, ct);
            license = await db.Licenses.AsNoTracking().FirstAsync(l => l.Id == license.Id, ct);
        }

        return new CheckoutOutcome.Started(license, checkout.RedirectUrl, payments.IsSandbox);
    }

    /// <summary>Payment succeeded: issue the key and book the sale. Only the first call does anything.</summary>
    public async Task<bool> ActivateAsync(Guid licenseId, string? paymentReference, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var pending = await db.Licenses.AsNoTracking().FirstOrDefaultAsync(l => l.Id == licenseId, ct);
        if (pending is null || pending.Status != LicenseStatus.Pending)
        {
            return false;
        }

        // Signed before the transaction: the signer may store its key on its own connection.
        var key = await signer.IssueAsync(pending, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var license = await db.Licenses.FirstOrDefaultAsync(l => l.Id == licenseId, ct);
        if (license is null || license.Status != LicenseStatus.Pending)
        {
            return false;
        }

        license.Status = LicenseStatus.Active;
        license.ActivatedAt = now;
        license.Period = Entitlements.PeriodOf(now);
        license.PaymentReference = paymentReference;
        license.Key = key;
        db.LedgerEntries.AddRange(LedgerBooking.Charge(license.ConsumerId, license.PublisherId, license.Price, license.Currency,
            options.Value.PlatformFeeRate, LedgerKinds.LicenseSale, license.Id, license.Period, now));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        entitlements.Forget(license.ConsumerId, license.ServerName, now);
        return true;
    }

    /// <summary>Refund: the provider returns the money, the key is revoked and the sale reversed. Only the first call does anything.</summary>
    public async Task<bool> RefundAsync(Guid licenseId, bool refundAtProvider, CancellationToken ct)
    {
        var license = await db.Licenses.FirstOrDefaultAsync(l => l.Id == licenseId, ct);
        if (license is null || license.Status != LicenseStatus.Active)
        {
            return false;
        }

        if (refundAtProvider)
        {
            var refund = await payments.RefundLicenseAsync(license, ct);
            if (!refund.Refunded)
            {
                return false;
            }
        }

        var now = clock.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var revoked = await db.Licenses.Where(l => l.Id == licenseId && l.Status == LicenseStatus.Active)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.Status, LicenseStatus.Revoked).SetProperty(l => l.RevokedAt, now), ct);
        if (revoked == 0)
        {
            return false;
        }

        db.LedgerEntries.AddRange(LedgerBooking.Charge(license.ConsumerId, license.PublisherId, license.Price, license.Currency,
            options.Value.PlatformFeeRate, LedgerKinds.LicenseSale, license.Id, license.Period ?? Entitlements.PeriodOf(now), now, reverse: true));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        entitlements.Forget(license.ConsumerId, license.ServerName, now);
        return true;
    }

    public static bool IsLicensed(PricingPlan plan) => plan.Model is PricingModel.License or PricingModel.Hybrid;
}
