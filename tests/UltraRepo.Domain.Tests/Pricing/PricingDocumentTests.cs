using System.Text.Json;
using CsCheck;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Domain.Tests.Pricing;

public class PricingDocumentTests
{
    private static readonly PriceTier[] NoTiers = PricingGenerators.NoTiers;

    private static (PricingPlan? Plan, List<FieldError> Errors) Parse(string json) =>
        PricingDocuments.Parse(JsonSerializer.Deserialize<PricingDocument>(json, PricingDocuments.Json)!);

    private static PricingPlan ParseValid(string json)
    {
        var (plan, errors) = Parse(json);
        Assert.Empty(errors);
        return Assert.IsType<PricingPlan>(plan);
    }

    private static FieldError SingleError(string json)
    {
        var (plan, errors) = Parse(json);
        Assert.Null(plan);
        return Assert.Single(errors);
    }

    private static string Usage(string usage) => $$"""{"model":"usage","usage":{{usage}}}""";

    private static string Graduated(string tiers) => Usage($$"""{"chargeModel":"graduated","tiers":{{tiers}}}""");

    // Records compare their tier lists by reference, so plans are compared field by field.
    private static void AssertSamePlan(PricingPlan expected, PricingPlan? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { Usage = null }, actual with { Usage = null });
        Assert.Equal(expected.Usage is null, actual.Usage is null);
        if (expected.Usage is { } e)
        {
            Assert.Equal(e with { Tiers = NoTiers }, actual.Usage! with { Tiers = NoTiers });
            Assert.Equal(e.Tiers, actual.Usage!.Tiers);
        }
    }

    [Fact]
    public void Parse_Free_IsTheFreePlanInUsd()
    {
        var plan = ParseValid("""{"model":"free"}""");

        Assert.Equal(PricingPlan.Free, plan);
        Assert.False(plan.RequiresLicense);
        Assert.False(plan.IsMetered);
    }

    [Fact]
    public void Parse_License_KeepsPriceAndCurrency()
    {
        var plan = ParseValid("""{"model":"license","currency":"EUR","license":{"price":"29.00"}}""");

        Assert.Equal(new PricingPlan(PricingModel.License, "EUR", new LicensePricing(29m), null), plan);
        Assert.True(plan.RequiresLicense);
        Assert.False(plan.IsMetered);
    }

    [Fact]
    public void Parse_UsageWithPricePer1k_IsASingleUnboundedStandardTier()
    {
        var plan = ParseValid(Usage("""{"pricePer1k":"0.002"}"""));

        AssertSamePlan(new PricingPlan(PricingModel.Usage, "USD", null, new UsagePricing(ChargeModel.Standard, [new PriceTier(null, 0.002m)])), plan);
        Assert.True(plan.IsMetered);
        Assert.False(plan.RequiresLicense);
    }

    [Fact]
    public void Parse_HybridGraduatedWithEveryOption_KeepsEveryField()
    {
        var plan = ParseValid("""
        {
          "model": "hybrid", "currency": "GBP", "license": { "price": "9.99" },
          "usage": {
            "chargeModel": "graduated",
            "tiers": [
              { "from": 0, "upTo": 100000, "pricePer1k": "0.002" },
              { "from": 100000, "upTo": 1000000, "pricePer1k": 0.0015 },
              { "upTo": null, "pricePer1k": "0.001" }
            ],
            "freeTokensPerMonth": 50000, "minimumMonthlySpend": "5.00", "monthlyTokenLimit": 10000000
          }
        }
        """);

        var usage = new UsagePricing(
            ChargeModel.Graduated,
            [new PriceTier(100_000, 0.002m), new PriceTier(1_000_000, 0.0015m), new PriceTier(null, 0.001m)],
            FreeTokensPerMonth: 50_000,
            MinimumMonthlySpend: 5m,
            MonthlyTokenLimit: 10_000_000);
        AssertSamePlan(new PricingPlan(PricingModel.Hybrid, "GBP", new LicensePricing(9.99m), usage), plan);
        Assert.True(plan.RequiresLicense);
        Assert.True(plan.IsMetered);
    }

    [Fact]
    public void Parse_Package_KeepsBlockSizeAndPrice()
    {
        var plan = ParseValid(Usage("""{"chargeModel":"package","packageSize":1000,"pricePerPackage":"0.05"}"""));

        AssertSamePlan(new PricingPlan(PricingModel.Usage, "USD", null, new UsagePricing(ChargeModel.Package, NoTiers, PackageSize: 1000, PricePerPackage: 0.05m)), plan);
    }

    [Theory]
    [InlineData("0.0015", "0.0015")]
    [InlineData("0.00000000000000000001", "0.00000000000000000001")]
    [InlineData("1E-3", "0.001")]
    public void Deserialize_AmountGivenAsJsonNumber_IsReadExactly(string number, string expected)
    {
        var plan = ParseValid(Usage($$"""{"pricePer1k":{{number}}}"""));

        Assert.Equal(decimal.Parse(expected, System.Globalization.NumberStyles.Float), plan.Usage!.Tiers[0].PricePer1K);
    }

    [Fact]
    public void Deserialize_AmountGivenAsBoolean_Throws() =>
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<PricingDocument>("""{"license":{"price":true}}""", PricingDocuments.Json));

    [Theory]
    [InlineData(null)]
    [InlineData("Free")]
    [InlineData("subscription")]
    public void Parse_UnknownModel_IsRefused(string? model)
    {
        var error = SingleError(JsonSerializer.Serialize(new PricingDocument { Model = model }, PricingDocuments.Json));

        Assert.Equal(("body.model", "model must be one of \"free, license, usage, hybrid\""), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("usd")]
    [InlineData("XXX")]
    [InlineData("")]
    public void Parse_UnsupportedCurrency_IsRefusedListingTheSupportedOnes(string currency)
    {
        var error = SingleError($$"""{"model":"free","currency":"{{currency}}"}""");

        Assert.Equal("body.currency", error.Location);
        Assert.StartsWith("currency must be an upper-case ISO 4217 code, one of: AUD, BRL, CAD,", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("USD, ZAR", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"license"}""", "body.license", "license {price} is required for this model")]
    [InlineData("""{"model":"license","license":{}}""", "body.license.price", "amount is required (a decimal string such as \"0.002\")")]
    [InlineData("""{"model":"license","license":{"price":"0"}}""", "body.license.price", "license price must be greater than 0")]
    [InlineData("""{"model":"license","license":{"price":"0.00"}}""", "body.license.price", "license price must be greater than 0")]
    [InlineData("""{"model":"license","license":{"price":"-5"}}""", "body.license.price", "amount must not be negative")]
    [InlineData("""{"model":"license","license":{"price":"9.999"}}""", "body.license.price", "license price must be a whole amount of USD's minor unit")]
    [InlineData("""{"model":"hybrid","currency":"JPY","license":{"price":"500.5"},"usage":{"pricePer1k":"1"}}""", "body.license.price", "license price must be a whole amount of JPY's minor unit")]
    [InlineData("""{"model":"free","license":{"price":"5"}}""", "body.license", "license is only allowed with model license or hybrid")]
    [InlineData("""{"model":"license","license":{"price":"5"},"usage":{"pricePer1k":"1"}}""", "body.usage", "usage is only allowed with model usage or hybrid")]
    [InlineData("""{"model":"usage"}""", "body.usage", "usage pricing is required for this model")]
    [InlineData("""{"model":"usage","usage":{"chargeModel":"tiered"}}""", "body.usage.chargeModel", "chargeModel must be one of \"standard, graduated, volume, package\"")]
    [InlineData("""{"model":"usage","usage":{}}""", "body.usage.pricePer1k", "amount is required (a decimal string such as \"0.002\")")]
    [InlineData("""{"model":"usage","usage":{"pricePer1k":"-0.002"}}""", "body.usage.pricePer1k", "amount must not be negative")]
    [InlineData("""{"model":"usage","usage":{"tiers":[{"upTo":10,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"0.5"}]}}""", "body.usage.tiers", "the standard charge model has a single price; use graduated or volume for tiers")]
    [InlineData("""{"model":"usage","usage":{"chargeModel":"package","pricePerPackage":"1"}}""", "body.usage.packageSize", "packageSize (tokens per block) must be a positive integer")]
    [InlineData("""{"model":"usage","usage":{"chargeModel":"package","packageSize":0,"pricePerPackage":"1"}}""", "body.usage.packageSize", "packageSize (tokens per block) must be a positive integer")]
    [InlineData("""{"model":"usage","usage":{"chargeModel":"package","packageSize":1000}}""", "body.usage.pricePerPackage", "amount is required (a decimal string such as \"0.002\")")]
    [InlineData("""{"model":"usage","usage":{"chargeModel":"package","packageSize":1000,"pricePerPackage":"1","tiers":[]}}""", "body.usage.tiers", "tiers are not used by the package charge model")]
    [InlineData("""{"model":"usage","usage":{"pricePer1k":"1","freeTokensPerMonth":-1}}""", "body.usage.freeTokensPerMonth", "freeTokensPerMonth must not be negative")]
    [InlineData("""{"model":"usage","usage":{"pricePer1k":"1","monthlyTokenLimit":0}}""", "body.usage.monthlyTokenLimit", "monthlyTokenLimit must be positive, or null for no limit")]
    [InlineData("""{"model":"usage","usage":{"pricePer1k":"1","minimumMonthlySpend":"-10"}}""", "body.usage.minimumMonthlySpend", "amount must not be negative")]
    public void Parse_InvalidDocument_ReportsWhyAndWhere(string json, string location, string message)
    {
        var error = SingleError(json);

        Assert.Equal((location, message), (error.Location, error.Message));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1e3")]
    [InlineData(" 5")]
    [InlineData("1,000")]
    [InlineData("0x10")]
    [InlineData("")]
    [InlineData("NaN")]
    [InlineData("79228162514264337593543950336")]
    public void Parse_AmountThatIsNotADecimalString_IsRefused(string amount)
    {
        var error = SingleError($$$"""{"model":"license","license":{"price":"{{{amount}}}"}}""");

        Assert.Equal(("body.license.price", "amount must be a decimal string such as \"0.002\"", (object?)amount), (error.Location, error.Message, error.Value));
    }

    [Theory]
    [InlineData("null", "body.usage.tiers", "at least one tier is required")]
    [InlineData("[]", "body.usage.tiers", "at least one tier is required")]
    [InlineData("""[{"upTo":100,"pricePer1k":"1"}]""", "body.usage.tiers[0].upTo", "the last tier must be unbounded (upTo null) so every token has a price")]
    [InlineData("""[{"upTo":null,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[0].upTo", "only the last tier may be unbounded (upTo null)")]
    [InlineData("""[{"upTo":1000,"pricePer1k":"1"},{"upTo":500,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[1].upTo", "tiers overlap: upTo 500 must be greater than the previous tier's upTo 1000")]
    [InlineData("""[{"upTo":100,"pricePer1k":"1"},{"upTo":100,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[1].upTo", "tiers overlap: upTo 100 must be greater than the previous tier's upTo 100")]
    [InlineData("""[{"upTo":0,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[0].upTo", "tiers overlap: upTo 0 must be greater than the previous tier's upTo 0")]
    [InlineData("""[{"upTo":100,"pricePer1k":"1"},{"from":150,"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[1].from", "gap between tiers: tokens 101..150 are in no tier")]
    [InlineData("""[{"upTo":100,"pricePer1k":"1"},{"from":50,"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[1].from", "tiers overlap: tier starts at 50 but the previous tier ends at 100")]
    [InlineData("""[{"from":10,"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[0].from", "gap between tiers: tokens 1..10 are in no tier")]
    [InlineData("""[{"upTo":100}, {"upTo":null,"pricePer1k":"1"}]""", "body.usage.tiers[0].pricePer1k", "amount is required (a decimal string such as \"0.002\")")]
    [InlineData("""[{"upTo":100,"pricePer1k":"1"},{"upTo":null,"pricePer1k":"-0.001"}]""", "body.usage.tiers[1].pricePer1k", "amount must not be negative")]
    public void Parse_BadTiers_ReportsTheTierAndField(string tiers, string location, string message)
    {
        foreach (var chargeModel in new[] { "graduated", "volume" })
        {
            var error = SingleError(Usage($$"""{"chargeModel":"{{chargeModel}}","tiers":{{tiers}}}"""));

            Assert.Equal((location, message), (error.Location, error.Message));
        }
    }

    [Fact]
    public void Parse_ExplicitFromEqualToThePreviousUpTo_IsAccepted()
    {
        var plan = ParseValid(Graduated("""[{"from":0,"upTo":100,"pricePer1k":"1"},{"from":100,"upTo":null,"pricePer1k":"0.5"}]"""));

        Assert.Equal([new PriceTier(100, 1m), new PriceTier(null, 0.5m)], plan.Usage!.Tiers);
    }

    [Fact]
    public void Parse_ManyProblems_ReportsThemAll()
    {
        var (plan, errors) = Parse("""
        {
          "model": "hybrid", "currency": "usd", "license": { "price": "0" },
          "usage": {
            "chargeModel": "volume",
            "tiers": [{ "upTo": 100, "pricePer1k": "x" }, { "from": 200, "upTo": 50, "pricePer1k": "1" }],
            "freeTokensPerMonth": -5, "monthlyTokenLimit": -1, "minimumMonthlySpend": "-1"
          }
        }
        """);

        Assert.Null(plan);
        Assert.Equal(
            [
                "body.currency", "body.license.price", "body.usage.tiers[0].pricePer1k", "body.usage.tiers[1].from", "body.usage.tiers[1].upTo",
                "body.usage.freeTokensPerMonth", "body.usage.monthlyTokenLimit", "body.usage.minimumMonthlySpend",
            ],
            errors.Select(e => e.Location));
    }

    [Fact]
    public void ToDocument_SeedPlan_WritesDecimalStringsAndAnExplicitNullUpTo()
    {
        var plan = ParseValid(Graduated("""[{"upTo":100000,"pricePer1k":"0.002"},{"upTo":1000000,"pricePer1k":"0.0015"},{"upTo":null,"pricePer1k":"0.001"}]"""));

        var json = JsonSerializer.Serialize(PricingDocuments.ToDocument(plan), PricingDocuments.Json);

        Assert.Equal(
            """{"model":"usage","currency":"USD","usage":{"chargeModel":"graduated","tiers":[{"upTo":100000,"pricePer1k":"0.002"},{"upTo":1000000,"pricePer1k":"0.0015"},{"upTo":null,"pricePer1k":"0.001"}],"freeTokensPerMonth":0,"minimumMonthlySpend":"0.00"}}""",
            json);
    }

    [Fact]
    public void ToDocument_LicenseInYen_HasNoMinorDigits() =>
        Assert.Equal("1500", PricingDocuments.ToDocument(new PricingPlan(PricingModel.License, "JPY", new LicensePricing(1500m), null)).License!.Price);

    [Fact]
    public void RoundTrip_MinimumMonthlySpendWithSubMinorDigits_IsPreservedOrRefused()
    {
        var (plan, errors) = Parse(Usage("""{"pricePer1k":"1","minimumMonthlySpend":"10.005"}"""));
        if (plan is null)
        {
            Assert.Equal("body.usage.minimumMonthlySpend", Assert.Single(errors).Location);
            return;
        }

        AssertSamePlan(plan, PricingDocuments.Parse(PricingDocuments.ToDocument(plan)).Plan);
    }

    private static readonly Gen<PricingPlan> Plans =
        from model in Gen.Enum<PricingModel>()
        from currency in Gen.OneOf("USD", "EUR", "JPY", "KRW", "GBP")
        let digits = Money.MinorUnitDigits(currency)
        from licensePrice in PricingGenerators.Amount(digits, min: 1)
        from usagePricing in PricingGenerators.Usage(Enum.GetValues<ChargeModel>())
        from minimum in PricingGenerators.Amount(digits)
        from limit in Gen.Long[1, long.MaxValue].Nullable()
        let usage = usagePricing with { MinimumMonthlySpend = minimum, MonthlyTokenLimit = limit }
        select new PricingPlan(
            model,
            currency,
            model is PricingModel.License or PricingModel.Hybrid ? new LicensePricing(licensePrice) : null,
            model is PricingModel.Usage or PricingModel.Hybrid ? usage : null);

    [Fact]
    public void RoundTrip_ParseOfToDocument_ThroughJson_GivesThePlanBack()
    {
        Plans.Sample(
            plan =>
            {
                var json = JsonSerializer.Serialize(PricingDocuments.ToDocument(plan), PricingDocuments.Json);
                var (parsed, errors) = PricingDocuments.Parse(JsonSerializer.Deserialize<PricingDocument>(json, PricingDocuments.Json)!);

                Assert.Empty(errors);
                AssertSamePlan(plan, parsed);
            },
            iter: 1000);
    }
}
