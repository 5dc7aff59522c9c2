using System.Text;
using System.Text.Json.Nodes;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Lago;

/// <summary>
/// A listing's usage pricing as a Lago plan (<c>POST/PUT /api/v1/plans</c>): monthly, no base amount, one
/// charge on the <c>mcp_tokens</c> metric (sum of <c>total_tokens</c>) priced per token. Pure.
/// </summary>
/// <remarks>
/// Lago's ranges are integer and inclusive: the first starts at 0 and each next one at the previous
/// <c>to_value + 1</c>, the last is open (<c>to_value: null</c>). Lago counts a range starting at 0 as
/// holding <c>to_value</c> units, so our tier "up to N tokens" (inclusive) is the range <c>[from, N]</c>.
/// Free tokens come first, as a range at price 0, and shift the tiers after them. Mapping:
/// graduated → <c>graduated</c>; standard → <c>standard</c> (<c>graduated</c> when it has free tokens,
/// which Lago's standard model lacks); volume → <c>volume</c> (refused with free tokens: Lago prices every
/// unit, free ones too, at the range the total reaches); package → <c>package</c> with <c>free_units</c>;
/// the minimum monthly spend → the plan's <c>minimum_commitment</c> (a Lago premium feature).
/// </remarks>
public static class LagoPlans
{
    public const string PlanCodePrefix = "ultrarepo-";
    public const string DescriptionPrefix = "UltraRepo listing ";

    /// <summary><c>ultrarepo-</c> and the lower-cased name with every run of other characters than a-z and 0-9 as one <c>-</c>.</summary>
    public static string PlanCode(string serverName)
    {
        var slug = new StringBuilder();
        foreach (var c in serverName.ToLowerInvariant())
        {
            if (c is (>= 'a' and <= 'z') or (>= '0' and <= '9'))
            {
                slug.Append(c);
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }

        return PlanCodePrefix + slug.ToString().TrimEnd('-');
    }

    /// <summary>Written into the plan, so an export never overwrites another listing's plan that got the same code.</summary>
    public static string Description(string serverName) => DescriptionPrefix + serverName + ": usage pricing exported by UltraRepo (change the listing's pricing and export again, not this plan).";

    public static JsonObject BillableMetric() => new()
    {
        ["name"] = "MCP tokens",
        ["code"] = LagoEvents.MetricCode,
        ["description"] = "Input plus output tokens of metered MCP requests (UltraRepo)",
        ["aggregation_type"] = "sum_agg",
        ["field_name"] = "total_tokens",
        ["recurring"] = false,
    };

    /// <summary>The plan body (the object inside <c>{"plan": …}</c>), or why this pricing has no exact Lago equivalent.</summary>
    public static (JsonObject? Plan, string? Error) Plan(string serverName, PricingPlan pricing, string billableMetricId, string? existingChargeId, bool update)
    {
        if (pricing.Usage is not { } usage)
        {
            return (null, $"{serverName} has no usage pricing (model {pricing.Model.ToString().ToLowerInvariant()}); only usage and hybrid pricing export to Lago");
        }

        var (chargeModel, properties, error) = Charge(usage);
        if (error is not null)
        {
            return (null, error);
        }

        var charge = new JsonObject();
        if (existingChargeId is not null)
        {
            charge["id"] = existingChargeId;
        }

        charge["billable_metric_id"] = billableMetricId;
        charge["charge_model"] = chargeModel;
        charge["invoice_display_name"] = "MCP tokens";
        charge["pay_in_advance"] = false;
        charge["prorated"] = false;
        charge["properties"] = properties;

        var plan = new JsonObject
        {
            ["name"] = serverName,
            ["code"] = PlanCode(serverName),
            ["description"] = Description(serverName),
            ["interval"] = "monthly",
            ["amount_cents"] = 0,
            ["amount_currency"] = pricing.Currency,
            ["pay_in_advance"] = false,
            ["charges"] = new JsonArray(charge),
        };
        if (usage.MinimumMonthlySpend > 0)
        {
            plan["minimum_commitment"] = new JsonObject
            {
                ["amount_cents"] = MinorUnits(usage.MinimumMonthlySpend, pricing.Currency),
                ["invoice_display_name"] = "Minimum monthly spend",
            };
        }
        else if (update)
        {
            // Lago removes an existing commitment when given an empty one.
            plan["minimum_commitment"] = new JsonObject();
        }

        return (plan, null);
    }

    /// <summary>The charge model and its <c>properties</c>, amounts per token as decimal strings.</summary>
    public static (string Model, JsonObject Properties, string? Error) Charge(UsagePricing usage)
    {
        var free = usage.FreeTokensPerMonth;
        switch (usage.ChargeModel)
        {
            case ChargeModel.Standard when free == 0:
                return ("standard", new JsonObject { ["amount"] = PerToken(usage.Tiers[0].PricePer1K) }, null);
            case ChargeModel.Standard or ChargeModel.Graduated:
                return ("graduated", new JsonObject { ["graduated_ranges"] = Ranges(usage.Tiers, free) }, null);
            case ChargeModel.Volume when free > 0:
                return ("volume", [], "volume pricing with free tokens has no exact Lago equivalent: Lago's volume model prices every unit, free ones included, at the range the total reaches");
            case ChargeModel.Volume:
                return ("volume", new JsonObject { ["volume_ranges"] = Ranges(usage.Tiers, 0) }, null);
            case ChargeModel.Package:
                return ("package", new JsonObject
                {
                    ["amount"] = Money.Format(usage.PricePerPackage),
                    ["package_size"] = usage.PackageSize,
                    ["free_units"] = free,
                }, null);
            default:
                return ("", [], $"charge model {usage.ChargeModel} has no Lago mapping");
        }
    }

    private static JsonArray Ranges(IReadOnlyList<PriceTier> tiers, long free)
    {
        var ranges = new JsonArray();
        long from = 0;
        if (free > 0)
        {
            ranges.Add(Range(0, free, 0m));
            from = free + 1;
        }

        foreach (var tier in tiers)
        {
            long? to = tier.UpTo is { } upTo ? free + upTo : null;
            ranges.Add(Range(from, to, tier.PricePer1K));
            from = (to ?? 0) + 1;
        }

        return ranges;
    }

    private static JsonObject Range(long from, long? to, decimal pricePer1K) => new()
    {
        ["from_value"] = from,
        ["to_value"] = to,
        ["per_unit_amount"] = PerToken(pricePer1K),
        ["flat_amount"] = "0",
    };

    /// <summary>Our prices are per 1K tokens and Lago's per unit (one token): exact decimal division, no rounding.</summary>
    public static string PerToken(decimal pricePer1K) => Money.Format(pricePer1K / 1000m);

    /// <summary>An amount in the currency's minor unit (Lago's <c>amount_cents</c>; yen for JPY).</summary>
    public static long MinorUnits(decimal amount, string currency) =>
        decimal.ToInt64(Money.Round(amount, currency) * (decimal)Math.Pow(10, Money.MinorUnitDigits(currency)));
}
