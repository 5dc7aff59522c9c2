using UltraRepo.Domain.Common;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Domain.Billing;

/// <summary>A consumer's billable usage of one listing in one period, as the usage store has it.</summary>
/// <param name="ExactCost">The sum of the period's event costs (unrounded); equals rating the tokens at the period price.</param>
public sealed record ListingUsage(string ServerName, string Title, Guid? PublisherId, PricingPlan Plan, long BillableTokens, decimal ExactCost);

/// <summary>Usage of an already invoiced period that arrived after its invoice was final.</summary>
public sealed record LateUsage(string ServerName, string Title, Guid? PublisherId, string SourcePeriod, long BillableTokens, decimal ExactCost);

/// <summary>A license bought in the period (paid at checkout, shown on the invoice).</summary>
public sealed record LicensePurchase(Guid LicenseId, string ServerName, string Title, Guid? PublisherId, decimal Price);

public enum InvoiceLineKind
{
    Usage,
    MinimumTrueUp,
    LateUsage,
    License,
}

/// <summary>
/// One invoice line. <see cref="ExactAmount"/> is what the usage events add up to; <see cref="Amount"/>
/// is that, rounded half-to-even to the currency's minor unit (the single rounding rule, applied once
/// per line); <see cref="RoundingAdjustment"/> is the difference, kept so totals reconcile to zero.
/// </summary>
public sealed record DraftLine(
    InvoiceLineKind Kind,
    string ServerName,
    string Description,
    Guid? PublisherId,
    long Tokens,
    IReadOnlyList<RatedTier> Tiers,
    decimal ExactAmount,
    decimal Amount,
    bool Prepaid,
    string? SourcePeriod = null,
    Guid? LicenseId = null)
{
    public decimal RoundingAdjustment => Amount - ExactAmount;
}

public sealed record DraftInvoice(string Period, string Currency, IReadOnlyList<DraftLine> Lines)
{
    public decimal Total => Lines.Sum(l => l.Amount);

    /// <summary>Already paid at checkout (licenses).</summary>
    public decimal Prepaid => Lines.Where(l => l.Prepaid).Sum(l => l.Amount);

    public decimal AmountDue => Total - Prepaid;
}

/// <summary>
/// Builds a consumer's invoice for a period (pure): a usage line per listing with the tiers applied,
/// a minimum-spend true-up when usage stayed below the listing's minimum, late usage from closed periods,
/// and the licenses bought.
/// </summary>
public static class InvoiceDrafting
{
    public static DraftInvoice Draft(string period, string currency, IEnumerable<ListingUsage> usage, IEnumerable<LateUsage> late, IEnumerable<LicensePurchase> licenses)
    {
        var lines = new List<DraftLine>();
        foreach (var u in usage.OrderBy(u => u.ServerName, StringComparer.Ordinal))
        {
            var rated = u.Plan.Usage is { } pricing ? UsageRating.Rate(pricing, u.BillableTokens) : null;
            if (u.BillableTokens > 0 || u.ExactCost != 0)
            {
                lines.Add(new DraftLine(InvoiceLineKind.Usage, u.ServerName, $"{u.Title}: {u.BillableTokens:N0} tokens", u.PublisherId, u.BillableTokens,
                    rated?.Tiers ?? [], u.ExactCost, Money.Round(u.ExactCost, currency), Prepaid: false));
            }

            var minimum = u.Plan.Usage?.MinimumMonthlySpend ?? 0;
            if (minimum > 0 && u.ExactCost < minimum)
            {
                var trueUp = minimum - u.ExactCost;
                lines.Add(new DraftLine(InvoiceLineKind.MinimumTrueUp, u.ServerName, $"{u.Title}: minimum monthly spend {Money.Format(minimum, currency)} {currency}",
                    u.PublisherId, 0, [], trueUp, Money.Round(trueUp, currency), Prepaid: false));
            }
        }

        foreach (var l in late.OrderBy(l => l.SourcePeriod, StringComparer.Ordinal).ThenBy(l => l.ServerName, StringComparer.Ordinal))
        {
            lines.Add(new DraftLine(InvoiceLineKind.LateUsage, l.ServerName, $"{l.Title}: {l.BillableTokens:N0} tokens used in {l.SourcePeriod}, recorded after its invoice",
                l.PublisherId, l.BillableTokens, [], l.ExactCost, Money.Round(l.ExactCost, currency), Prepaid: false, SourcePeriod: l.SourcePeriod));
        }

        foreach (var license in licenses.OrderBy(l => l.ServerName, StringComparer.Ordinal))
        {
            lines.Add(new DraftLine(InvoiceLineKind.License, license.ServerName, $"{license.Title}: license (paid at checkout)", license.PublisherId, 0, [],
                license.Price, Money.Round(license.Price, currency), Prepaid: true, LicenseId: license.LicenseId));
        }

        return new DraftInvoice(period, currency, lines);
    }
}

/// <summary>The platform's share and the publisher's, always summing to the charged amount exactly.</summary>
public static class RevenueShare
{
    public static (decimal PlatformFee, decimal PublisherEarning) Split(decimal amount, decimal feeRate, string currency)
    {
        var fee = Money.Round(amount * feeRate, currency);
        return (fee, amount - fee);
    }
}
