namespace UltraRepo.Domain.Pricing;

/// <summary>How many tokens were charged at which price, for an invoice line's breakdown.</summary>
public sealed record RatedTier(long FromToken, long? ToToken, long Tokens, decimal PricePer1K, decimal Amount);

public sealed record RatedUsage(long Tokens, long FreeTokens, long BillableTokens, decimal Amount, IReadOnlyList<RatedTier> Tiers);

/// <summary>
/// Rates a period's tokens under a usage price list. Pure and exact: amounts are unrounded decimals
/// (rounding happens once, on the invoice line; see <see cref="Common.Money"/>).
/// Free tokens are taken first; the charge model then applies to the billable tokens beyond them.
/// The minimum monthly spend is not part of the rated amount: the invoice adds a true-up line.
/// </summary>
public static class UsageRating
{
    private const decimal Thousand = 1000m;

    public static RatedUsage Rate(UsagePricing pricing, long tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        var free = Math.Min(tokens, pricing.FreeTokensPerMonth);
        var billable = tokens - free;
        var tiers = pricing.ChargeModel switch
        {
            ChargeModel.Standard or ChargeModel.Graduated => Graduated(pricing.Tiers, billable),
            ChargeModel.Volume => Volume(pricing.Tiers, billable),
            ChargeModel.Package => Package(pricing, billable),
            _ => throw new ArgumentOutOfRangeException(nameof(pricing)),
        };
        return new RatedUsage(tokens, free, billable, tiers.Sum(t => t.Amount), tiers);
    }

    public static decimal Amount(UsagePricing pricing, long tokens) => Rate(pricing, tokens).Amount;

    /// <summary>
    /// The cost of <paramref name="tokens"/> more tokens for a consumer who already used
    /// <paramref name="monthToDate"/> this period. Summing marginal costs over a period telescopes to
    /// the period's rated amount exactly. Under the volume model a request that lifts the total into a
    /// cheaper tier has a negative marginal cost, because the whole month is re-priced.
    /// </summary>
    public static decimal Marginal(UsagePricing pricing, long monthToDate, long tokens) =>
        tokens == 0 ? 0m : Amount(pricing, checked(monthToDate + tokens)) - Amount(pricing, monthToDate);

    private static List<RatedTier> Graduated(IReadOnlyList<PriceTier> tiers, long tokens)
    {
        var rated = new List<RatedTier>();
        long lower = 0;
        foreach (var tier in tiers)
        {
            if (tokens <= lower)
            {
                break;
            }

            var upper = tier.UpTo is { } upTo ? Math.Min(upTo, tokens) : tokens;
            var inTier = upper - lower;
            rated.Add(new RatedTier(lower + 1, tier.UpTo, inTier, tier.PricePer1K, inTier * tier.PricePer1K / Thousand));
            lower = upper;
        }

        return rated;
    }

    private static List<RatedTier> Volume(IReadOnlyList<PriceTier> tiers, long tokens)
    {
        if (tokens == 0)
        {
            return [];
        }

        // A total equal to a tier's upTo stays in that tier (upTo is inclusive).
        long lower = 0;
        foreach (var tier in tiers)
        {
            if (tier.UpTo is null || tokens <= tier.UpTo)
            {
                return [new RatedTier(lower + 1, tier.UpTo, tokens, tier.PricePer1K, tokens * tier.PricePer1K / Thousand)];
            }

            lower = tier.UpTo.Value;
        }

        throw new InvalidOperationException("a price list's last tier is unbounded");
    }

    private static List<RatedTier> Package(UsagePricing pricing, long tokens)
    {
        if (tokens == 0)
        {
            return [];
        }

        var blocks = tokens / pricing.PackageSize + (tokens % pricing.PackageSize == 0 ? 0 : 1);
        var per1K = pricing.PricePerPackage * Thousand / pricing.PackageSize;
        return [new RatedTier(1, null, tokens, per1K, blocks * pricing.PricePerPackage)];
    }
}
