using CsCheck;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Domain.Tests.Pricing;

public class UsageRatingTests
{
    // The demo listing's price list: $0.002/1K up to 100K, $0.0015/1K up to 1M, $0.001/1K above.
    private static readonly UsagePricing Seed = new(
        ChargeModel.Graduated,
        [new PriceTier(100_000, 0.002m), new PriceTier(1_000_000, 0.0015m), new PriceTier(null, 0.001m)]);

    private static readonly UsagePricing SeedVolume = Seed with { ChargeModel = ChargeModel.Volume };

    private static readonly UsagePricing Standard = new(ChargeModel.Standard, [new PriceTier(null, 0.002m)]);

    private static readonly UsagePricing Package = new(ChargeModel.Package, PricingGenerators.NoTiers, PackageSize: 1000, PricePerPackage: 0.05m);

    [Theory]
    [InlineData(0, "0")]
    [InlineData(1, "0.000002")]
    [InlineData(1_000, "0.002")]
    [InlineData(100_000, "0.2")]
    [InlineData(100_001, "0.2000015")]
    [InlineData(1_000_000, "1.55")]
    [InlineData(1_000_001, "1.550001")]
    [InlineData(2_500_000, "3.05")]
    public void Amount_Graduated_PricesEachTiersTokensAtThatTiersPrice(long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Amount(Seed, tokens));

    [Theory]
    [InlineData(0, "0")]
    [InlineData(100_000, "0.2")]
    [InlineData(100_001, "0.1500015")]
    [InlineData(1_000_000, "1.5")]
    [InlineData(1_000_001, "1.000001")]
    [InlineData(2_500_000, "2.5")]
    public void Amount_Volume_PricesAllTokensAtTheTierTheTotalReaches(long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Amount(SeedVolume, tokens));

    [Theory]
    [InlineData(0, "0")]
    [InlineData(1, "0.000002")]
    [InlineData(1_234_567, "2.469134")]
    public void Amount_Standard_IsOnePricePer1K(long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Amount(Standard, tokens));

    [Theory]
    [InlineData(0, "0")]
    [InlineData(1, "0.05")]
    [InlineData(1_000, "0.05")]
    [InlineData(1_001, "0.10")]
    [InlineData(2_500_000, "125")]
    public void Amount_Package_ChargesEveryStartedBlock(long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Amount(Package, tokens));

    [Fact]
    public void Rate_Graduated_BreaksTheAmountDownByTier()
    {
        var rated = UsageRating.Rate(Seed, 2_500_000);

        Assert.Equal(
            [
                new RatedTier(1, 100_000, 100_000, 0.002m, 0.2m),
                new RatedTier(100_001, 1_000_000, 900_000, 0.0015m, 1.35m),
                new RatedTier(1_000_001, null, 1_500_000, 0.001m, 1.5m),
            ],
            rated.Tiers);
        Assert.Equal((2_500_000L, 0L, 2_500_000L, 3.05m), (rated.Tokens, rated.FreeTokens, rated.BillableTokens, rated.Amount));
    }

    [Fact]
    public void Rate_GraduatedWithinFirstTier_HasOneLine() =>
        Assert.Equal([new RatedTier(1, 100_000, 100_000, 0.002m, 0.2m)], UsageRating.Rate(Seed, 100_000).Tiers);

    [Fact]
    public void Rate_VolumeJustPastABoundary_IsOneLineAtTheNextTier() =>
        Assert.Equal([new RatedTier(100_001, 1_000_000, 100_001, 0.0015m, 0.1500015m)], UsageRating.Rate(SeedVolume, 100_001).Tiers);

    [Fact]
    public void Rate_Package_IsOneLineWithTheEffectivePricePer1K() =>
        Assert.Equal([new RatedTier(1, null, 2_500, 0.05m, 0.15m)], UsageRating.Rate(Package, 2_500).Tiers);

    [Fact]
    public void Rate_NoTokens_HasNoLines()
    {
        foreach (var pricing in new[] { Seed, SeedVolume, Standard, Package })
        {
            var rated = UsageRating.Rate(pricing, 0);
            Assert.Empty(rated.Tiers);
            Assert.Equal(0m, rated.Amount);
        }
    }

    [Fact]
    public void Rate_NegativeTokens_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => UsageRating.Rate(Seed, -1));

    [Theory]
    [InlineData(30_000, 30_000, 0, "0")]
    [InlineData(50_000, 50_000, 0, "0")]
    [InlineData(120_000, 50_000, 70_000, "0.14")]
    [InlineData(150_001, 50_000, 100_001, "0.2000015")]
    public void Rate_FreeTokensAreTakenFirstAndTiersApplyToTheRest(long tokens, long free, long billable, string amount)
    {
        var rated = UsageRating.Rate(Seed with { FreeTokensPerMonth = 50_000 }, tokens);

        Assert.Equal((tokens, free, billable, decimal.Parse(amount)), (rated.Tokens, rated.FreeTokens, rated.BillableTokens, rated.Amount));
    }

    [Theory]
    [InlineData(1_500, "0.05")]
    [InlineData(1_501, "0.10")]
    public void Amount_PackageWithFreeTokens_CountsBlocksAfterTheFreeTokens(long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Amount(Package with { FreeTokensPerMonth = 500 }, tokens));

    [Theory]
    [InlineData(99_999, 2, "0.0000035")]
    [InlineData(0, 100_000, "0.2")]
    [InlineData(100_000, 900_000, "1.35")]
    [InlineData(5_000, 0, "0")]
    public void Marginal_Graduated_IsTheCostOfTheNextTokens(long monthToDate, long tokens, string expected) =>
        Assert.Equal(decimal.Parse(expected), UsageRating.Marginal(Seed, monthToDate, tokens));

    [Fact]
    public void Marginal_VolumeIntoACheaperTier_IsNegative() =>
        Assert.Equal(-0.0499985m, UsageRating.Marginal(SeedVolume, 100_000, 1));

    [Fact]
    public void Marginal_WithinFreeTokens_CostsOnlyTheTokensBeyondThem() =>
        Assert.Equal(0.001m, UsageRating.Marginal(Seed with { FreeTokensPerMonth = 1_000 }, 500, 1_000));

    [Fact]
    public void Marginal_PackageAlreadyStartedBlock_IsFree()
    {
        Assert.Equal(0m, UsageRating.Marginal(Package, 1, 999));
        Assert.Equal(0.05m, UsageRating.Marginal(Package, 1_000, 1));
    }

    private static readonly Gen<long[]> Requests = Gen.OneOf(Gen.Long[0, 5_000], Gen.Long[0, 5_000_000]).Array[1, 40];

    [Fact]
    public void Marginal_SummedOverAPeriod_EqualsTheRatedAmountExactly()
    {
        Gen.Select(PricingGenerators.Usage(Enum.GetValues<ChargeModel>()), Requests).Sample(
            (pricing, requests) =>
            {
                long monthToDate = 0;
                var charged = 0m;
                foreach (var tokens in requests)
                {
                    charged += UsageRating.Marginal(pricing, monthToDate, tokens);
                    monthToDate += tokens;
                }

                Assert.Equal(UsageRating.Amount(pricing, monthToDate), charged);
            },
            iter: 1000);
    }

    private static readonly Gen<long> Tokens = Gen.OneOf(Gen.Long[0, 200_000], Gen.Long[0, 100_000_000]);

    [Fact]
    public void Amount_GraduatedStandardAndPackage_NeverDecreasesWithMoreTokens()
    {
        Gen.Select(PricingGenerators.Usage(ChargeModel.Graduated, ChargeModel.Standard, ChargeModel.Package), Tokens, Tokens).Sample(
            (pricing, a, b) => Assert.True(UsageRating.Amount(pricing, Math.Min(a, b)) <= UsageRating.Amount(pricing, Math.Max(a, b))),
            iter: 1000);
    }

    [Fact]
    public void Amount_Graduated_LiesBetweenTheCheapestAndDearestTierPrice()
    {
        Gen.Select(PricingGenerators.Usage(ChargeModel.Graduated), Tokens).Sample(
            (pricing, tokens) =>
            {
                var billable = Math.Max(0, tokens - pricing.FreeTokensPerMonth);
                var amount = UsageRating.Amount(pricing, tokens);

                Assert.InRange(amount, billable * pricing.Tiers.Min(t => t.PricePer1K) / 1000, billable * pricing.Tiers.Max(t => t.PricePer1K) / 1000);
            },
            iter: 1000);
    }

    [Fact]
    public void Rate_LinesAccountForEveryBillableTokenAndSumToTheAmount()
    {
        Gen.Select(PricingGenerators.Usage(Enum.GetValues<ChargeModel>()), Tokens).Sample(
            (pricing, tokens) =>
            {
                var rated = UsageRating.Rate(pricing, tokens);

                Assert.Equal(tokens, rated.Tokens);
                Assert.Equal(Math.Min(tokens, pricing.FreeTokensPerMonth), rated.FreeTokens);
                Assert.Equal(tokens - rated.FreeTokens, rated.BillableTokens);
                Assert.Equal(rated.BillableTokens, rated.Tiers.Sum(t => t.Tokens));
                Assert.Equal(rated.Amount, rated.Tiers.Sum(t => t.Amount));
                Assert.Equal(rated.Amount, UsageRating.Amount(pricing, tokens));
                Assert.All(rated.Tiers, t => Assert.True(t.Tokens > 0));
            },
            iter: 1000);
    }

    [Fact]
    public void Rate_GraduatedLines_AreContiguousAndEachPricedAtItsTier()
    {
        Gen.Select(PricingGenerators.Usage(ChargeModel.Graduated), Tokens).Sample(
            (pricing, tokens) =>
            {
                var lines = UsageRating.Rate(pricing, tokens).Tiers;

                long next = 1;
                foreach (var line in lines)
                {
                    Assert.Equal(next, line.FromToken);
                    Assert.Equal(line.Tokens * line.PricePer1K / 1000, line.Amount);
                    next = line.FromToken + line.Tokens;
                    Assert.True(line.ToToken is null || next - 1 <= line.ToToken);
                }
            },
            iter: 1000);
    }
}
