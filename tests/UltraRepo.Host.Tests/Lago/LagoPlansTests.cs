using System.Text.Json.Nodes;
using UltraRepo.Domain.Pricing;
using UltraRepo.Lago;

namespace UltraRepo.Host.Tests.Lago;

/// <summary>Our usage pricing as Lago charges: ranges, per-token amounts, free tokens, minimum spend.</summary>
public sealed class LagoPlansTests
{
    private static readonly PriceTier[] SeedTiers = [new(100_000, 0.002m), new(1_000_000, 0.0015m), new(null, 0.001m)];

    private static JsonNode Range(long from, long? to, string perUnit) =>
        new JsonObject { ["from_value"] = from, ["to_value"] = to, ["per_unit_amount"] = perUnit, ["flat_amount"] = "0" };

    private static void AssertJson(JsonNode expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected {expected.ToJsonString()}\nactual   {actual?.ToJsonString()}");

    [Fact]
    public void Graduated_TiersBecomeInclusiveRangesPricedPerToken()
    {
        var (model, properties, error) = LagoPlans.Charge(new UsagePricing(ChargeModel.Graduated, SeedTiers));

        Assert.Null(error);
        Assert.Equal("graduated", model);
        AssertJson(new JsonObject
        {
            ["graduated_ranges"] = new JsonArray(Range(0, 100_000, "0.000002"), Range(100_001, 1_000_000, "0.0000015"), Range(1_000_001, null, "0.000001")),
        }, properties);
    }

    [Fact]
    public void Graduated_FreeTokensComeFirstAtZero_AndShiftTheTiers()
    {
        var (_, properties, _) = LagoPlans.Charge(new UsagePricing(ChargeModel.Graduated, SeedTiers, FreeTokensPerMonth: 10_000));

        AssertJson(new JsonArray(Range(0, 10_000, "0"), Range(10_001, 110_000, "0.000002"), Range(110_001, 1_010_000, "0.0000015"), Range(1_010_001, null, "0.000001")),
            properties["graduated_ranges"]);
    }

    [Fact]
    public void Standard_IsLagosStandardAmountPerToken_OrGraduatedWhenItHasFreeTokens()
    {
        var (model, properties, _) = LagoPlans.Charge(new UsagePricing(ChargeModel.Standard, [new PriceTier(null, 0.5m)]));
        Assert.Equal("standard", model);
        AssertJson(new JsonObject { ["amount"] = "0.0005" }, properties);

        var (freeModel, freeProperties, _) = LagoPlans.Charge(new UsagePricing(ChargeModel.Standard, [new PriceTier(null, 0.5m)], FreeTokensPerMonth: 1000));
        Assert.Equal("graduated", freeModel);
        AssertJson(new JsonArray(Range(0, 1000, "0"), Range(1001, null, "0.0005")), freeProperties["graduated_ranges"]);
    }

    [Fact]
    public void Volume_UsesVolumeRanges_AndIsRefusedWithFreeTokens()
    {
        var (model, properties, error) = LagoPlans.Charge(new UsagePricing(ChargeModel.Volume, SeedTiers));
        Assert.Null(error);
        Assert.Equal("volume", model);
        AssertJson(new JsonArray(Range(0, 100_000, "0.000002"), Range(100_001, 1_000_000, "0.0000015"), Range(1_000_001, null, "0.000001")), properties["volume_ranges"]);

        var (_, _, refused) = LagoPlans.Charge(new UsagePricing(ChargeModel.Volume, SeedTiers, FreeTokensPerMonth: 5));
        Assert.Contains("no exact Lago equivalent", refused);
    }

    [Fact]
    public void Package_MapsSizeAmountAndFreeUnits()
    {
        var (model, properties, _) = LagoPlans.Charge(new UsagePricing(ChargeModel.Package, [], FreeTokensPerMonth: 2000, PackageSize: 10_000, PricePerPackage: 0.25m));

        Assert.Equal("package", model);
        AssertJson(new JsonObject { ["amount"] = "0.25", ["package_size"] = 10_000, ["free_units"] = 2000 }, properties);
    }

    [Fact]
    public void Plan_IsMonthlyWithoutBaseAmount_AndTheMinimumSpendIsAMinimumCommitmentInMinorUnits()
    {
        var pricing = new PricingPlan(PricingModel.Usage, "USD", null, new UsagePricing(ChargeModel.Graduated, SeedTiers, MinimumMonthlySpend: 25m));

        var (plan, error) = LagoPlans.Plan("io.example/weather", pricing, "metric-1", null, update: false);

        Assert.Null(error);
        Assert.Equal("ultrarepo-io-example-weather", (string?)plan!["code"]);
        Assert.Equal("io.example/weather", (string?)plan["name"]);
        Assert.Equal("monthly", (string?)plan["interval"]);
        Assert.Equal(0, (int)plan["amount_cents"]!);
        Assert.Equal("USD", (string?)plan["amount_currency"]);
        Assert.False((bool)plan["pay_in_advance"]!);
        AssertJson(new JsonObject { ["amount_cents"] = 2500, ["invoice_display_name"] = "Minimum monthly spend" }, plan["minimum_commitment"]);
        var charge = plan["charges"]!.AsArray().Single()!;
        Assert.Equal("metric-1", (string?)charge["billable_metric_id"]);
        Assert.Null(charge["id"]);

        var yen = new PricingPlan(PricingModel.Usage, "JPY", null, new UsagePricing(ChargeModel.Standard, [new PriceTier(null, 3m)], MinimumMonthlySpend: 500m));
        Assert.Equal(500, (long)LagoPlans.Plan("a/b", yen, "m", null, update: false).Plan!["minimum_commitment"]!["amount_cents"]!);
    }

    [Fact]
    public void PlanUpdate_KeepsTheChargeId_AndClearsAMinimumThatWasRemoved()
    {
        var pricing = new PricingPlan(PricingModel.Hybrid, "EUR", new LicensePricing(10m), new UsagePricing(ChargeModel.Graduated, SeedTiers));

        var (plan, _) = LagoPlans.Plan("io.example/weather", pricing, "metric-1", "charge-9", update: true);

        Assert.Equal("charge-9", (string?)plan!["charges"]![0]!["id"]);
        AssertJson(new JsonObject(), plan["minimum_commitment"]);
    }

    [Theory]
    [InlineData(PricingModel.Free)]
    [InlineData(PricingModel.License)]
    public void PricingWithoutUsage_DoesNotExport(PricingModel model)
    {
        var pricing = new PricingPlan(model, "USD", model == PricingModel.License ? new LicensePricing(29m) : null, null);

        var (plan, error) = LagoPlans.Plan("io.example/weather", pricing, "m", null, update: false);

        Assert.Null(plan);
        Assert.Contains("only usage and hybrid pricing export", error);
    }

    [Theory]
    [InlineData("com.ultrarepo.alice/upstream", "ultrarepo-com-ultrarepo-alice-upstream")]
    [InlineData("io.GitHub.Some_User/My--Server", "ultrarepo-io-github-some-user-my-server")]
    public void PlanCode_IsAReadableSlug(string serverName, string code) => Assert.Equal(code, LagoPlans.PlanCode(serverName));
}
