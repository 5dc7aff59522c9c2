namespace UltraRepo.Domain.Pricing;

public enum PricingModel
{
    Free,
    License,
    Usage,
    Hybrid,
}

public enum ChargeModel
{
    /// <summary>One price per 1K tokens.</summary>
    Standard,
    /// <summary>Each tier's tokens at that tier's price.</summary>
    Graduated,
    /// <summary>All tokens at the price of the tier the total reaches.</summary>
    Volume,
    /// <summary>A price per started block of N tokens.</summary>
    Package,
}

/// <summary>A tier covers tokens above the previous tier's <see cref="UpTo"/> up to and including its own; null means unbounded.</summary>
public sealed record PriceTier(long? UpTo, decimal PricePer1K);

public sealed record UsagePricing(
    ChargeModel ChargeModel,
    IReadOnlyList<PriceTier> Tiers,
    long FreeTokensPerMonth = 0,
    decimal MinimumMonthlySpend = 0,
    long? MonthlyTokenLimit = null,
    long PackageSize = 0,
    decimal PricePerPackage = 0);

public sealed record LicensePricing(decimal Price);

/// <summary>A listing's validated price list in one currency.</summary>
public sealed record PricingPlan(PricingModel Model, string Currency, LicensePricing? License, UsagePricing? Usage)
{
    public static readonly PricingPlan Free = new(PricingModel.Free, "USD", null, null);

    public bool RequiresLicense => Model is PricingModel.License or PricingModel.Hybrid;

    public bool IsMetered => Model is PricingModel.Usage or PricingModel.Hybrid;
}
