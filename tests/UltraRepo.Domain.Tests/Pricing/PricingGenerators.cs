using CsCheck;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Domain.Tests.Pricing;

internal static class PricingGenerators
{
    public static readonly PriceTier[] NoTiers = [];

    /// <summary>Non-negative decimals with up to <paramref name="maxScale"/> fractional digits.</summary>
    public static Gen<decimal> Amount(int maxScale, int min = 0) =>
        Gen.Select(Gen.Int[min, 5_000_000], Gen.Int[0, maxScale], (units, scale) => new decimal(units, 0, 0, false, (byte)scale));

    /// <summary>Valid tiers: ascending bounds, only the last one unbounded.</summary>
    public static readonly Gen<PriceTier[]> Tiers =
        from bounds in Gen.Long[1, 50_000_000].HashSet[0, 4]
        from prices in Amount(8).Array[bounds.Count + 1]
        select bounds.Order().Select(b => (long?)b).Append(null).Select((upTo, i) => new PriceTier(upTo, prices[i])).ToArray();

    public static Gen<UsagePricing> Usage(params ChargeModel[] chargeModels) =>
        from chargeModel in Gen.OneOf(chargeModels)
        from tiers in chargeModel switch
        {
            ChargeModel.Package => Gen.Const(NoTiers),
            ChargeModel.Standard => Amount(8).Select(p => new[] { new PriceTier(null, p) }),
            _ => Tiers,
        }
        from packageSize in Gen.Long[1, 1_000_000]
        from pricePerPackage in Amount(6)
        from free in Gen.OneOf(Gen.Const(0L), Gen.Long[0, 10_000_000])
        let package = chargeModel == ChargeModel.Package
        select new UsagePricing(chargeModel, tiers, free, PackageSize: package ? packageSize : 0, PricePerPackage: package ? pricePerPackage : 0);
}
