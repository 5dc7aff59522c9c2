using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using UltraRepo.Domain.Common;

namespace UltraRepo.Domain.Pricing;

// The wire shape of a price list (PUT/GET /api/servers/{name}/pricing). Amounts are decimal strings;
// JSON numbers are accepted too and read exactly.

public sealed record PricingDocument
{
    public string? Model { get; init; }
    public string? Currency { get; init; }
    public LicenseDocument? License { get; init; }
    public UsageDocument? Usage { get; init; }
}

public sealed record LicenseDocument
{
    [JsonConverter(typeof(DecimalStringConverter))] public string? Price { get; init; }
}

public sealed record UsageDocument
{
    public string? ChargeModel { get; init; }
    [JsonConverter(typeof(DecimalStringConverter))] public string? PricePer1k { get; init; }
    public List<TierDocument>? Tiers { get; init; }
    public long? PackageSize { get; init; }
    [JsonConverter(typeof(DecimalStringConverter))] public string? PricePerPackage { get; init; }
    public long? FreeTokensPerMonth { get; init; }
    [JsonConverter(typeof(DecimalStringConverter))] public string? MinimumMonthlySpend { get; init; }
    public long? MonthlyTokenLimit { get; init; }
}

public sealed record TierDocument
{
    /// <summary>Optional explicit lower bound; when given it must equal the previous tier's upTo (0 for the first).</summary>
    public long? From { get; init; }
    /// <summary>Inclusive upper bound; null (always written) for the unbounded last tier.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? UpTo { get; init; }
    [JsonConverter(typeof(DecimalStringConverter))] public string? PricePer1k { get; init; }
}

/// <summary>Reads a decimal given as a JSON string or number, keeping its exact text.</summary>
public sealed class DecimalStringConverter : JsonConverter<string?>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Number => reader.GetDecimal().ToString(CultureInfo.InvariantCulture),
        JsonTokenType.Null => null,
        _ => throw new JsonException("expected a decimal string such as \"0.002\""),
    };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}

public static class PricingDocuments
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The most a price per 1K tokens or per package may be, in the listing's currency.</summary>
    public const decimal MaxRate = 1_000_000m;

    /// <summary>Rates are exact to 10⁻⁹, the precision budgets are enforced to.</summary>
    public const int MaxRateDecimals = 9;

    /// <summary>The most a license price or a minimum monthly spend may be, in the listing's currency.</summary>
    public const decimal MaxAmount = 1_000_000_000m;

    /// <summary>
    /// Validates a new price list (PUT): <see cref="Parse"/> plus the bounds on amounts that keep every
    /// month's rating, admission and invoice arithmetic within decimal.
    /// </summary>
    public static (PricingPlan? Plan, List<FieldError> Errors) ParseSubmitted(PricingDocument document)
    {
        var (plan, errors) = Parse(document);
        var bounds = Bounds(document);
        return bounds.Count == 0 ? (plan, errors) : (null, [.. errors, .. bounds]);
    }

    /// <summary>
    /// Validates a document into a plan, or explains every problem with its location. Stored price lists are
    /// read back with this too, so it holds no bound added later (a list stored before stays readable).
    /// </summary>
    public static (PricingPlan? Plan, List<FieldError> Errors) Parse(PricingDocument document)
    {
        var errors = new List<FieldError>();
        var model = document.Model switch
        {
            "free" => PricingModel.Free,
            "license" => PricingModel.License,
            "usage" => PricingModel.Usage,
            "hybrid" => PricingModel.Hybrid,
            _ => (PricingModel?)null,
        };
        if (model is null)
        {
            errors.Add(new("body.model", "model must be one of \"free, license, usage, hybrid\"", document.Model));
        }

        var currency = document.Currency ?? "USD";
        if (!Money.IsSupported(currency))
        {
            errors.Add(new("body.currency", $"currency must be an upper-case ISO 4217 code, one of: {string.Join(", ", Money.SupportedCurrencies.Order())}", document.Currency));
            currency = "USD";
        }

        LicensePricing? license = null;
        UsagePricing? usage = null;
        if (model is PricingModel.License or PricingModel.Hybrid)
        {
            license = ParseLicense(document.License, currency, errors);
        }
        else if (document.License is not null)
        {
            errors.Add(new("body.license", $"license is only allowed with model license or hybrid"));
        }

        if (model is PricingModel.Usage or PricingModel.Hybrid)
        {
            usage = ParseUsage(document.Usage, currency, errors);
        }
        else if (document.Usage is not null)
        {
            errors.Add(new("body.usage", "usage is only allowed with model usage or hybrid"));
        }

        return errors.Count > 0 ? (null, errors) : (new PricingPlan(model!.Value, currency, license, usage), errors);
    }

    public static PricingDocument ToDocument(PricingPlan plan) => new()
    {
        Model = plan.Model.ToString().ToLowerInvariant(),
        Currency = plan.Currency,
        License = plan.License is null ? null : new LicenseDocument { Price = Money.Format(plan.License.Price, plan.Currency) },
        Usage = plan.Usage is not { } u ? null : new UsageDocument
        {
            ChargeModel = u.ChargeModel.ToString().ToLowerInvariant(),
            Tiers = u.ChargeModel == ChargeModel.Package ? null : u.Tiers.Select(t => new TierDocument { UpTo = t.UpTo, PricePer1k = Money.Format(t.PricePer1K) }).ToList(),
            PackageSize = u.ChargeModel == ChargeModel.Package ? u.PackageSize : null,
            PricePerPackage = u.ChargeModel == ChargeModel.Package ? Money.Format(u.PricePerPackage) : null,
            FreeTokensPerMonth = u.FreeTokensPerMonth,
            MinimumMonthlySpend = Money.Format(u.MinimumMonthlySpend, plan.Currency),
            MonthlyTokenLimit = u.MonthlyTokenLimit,
        },
    };

    private static LicensePricing? ParseLicense(LicenseDocument? license, string currency, List<FieldError> errors)
    {
        if (license is null)
        {
            errors.Add(new("body.license", "license {price} is required for this model"));
            return null;
        }

        var price = ParseAmount("body.license.price", license.Price, errors, required: true);
        if (price is <= 0)
        {
            errors.Add(new("body.license.price", "license price must be greater than 0", license.Price));
        }
        else if (price is { } p && Money.Round(p, currency) != p)
        {
            errors.Add(new("body.license.price", $"license price must be a whole amount of {currency}'s minor unit", license.Price));
        }

        return price is > 0 ? new LicensePricing(price.Value) : null;
    }

    private static UsagePricing? ParseUsage(UsageDocument? usage, string currency, List<FieldError> errors)
    {
        if (usage is null)
        {
            errors.Add(new("body.usage", "usage pricing is required for this model"));
            return null;
        }

        var before = errors.Count;
        var chargeModel = usage.ChargeModel switch
        {
            null or "standard" => ChargeModel.Standard,
            "graduated" => ChargeModel.Graduated,
            "volume" => ChargeModel.Volume,
            "package" => ChargeModel.Package,
            _ => (ChargeModel?)null,
        };
        if (chargeModel is null)
        {
            errors.Add(new("body.usage.chargeModel", "chargeModel must be one of \"standard, graduated, volume, package\"", usage.ChargeModel));
            return null;
        }

        var tiers = new List<PriceTier>();
        long packageSize = 0;
        decimal pricePerPackage = 0;
        switch (chargeModel)
        {
            case ChargeModel.Standard:
                tiers = ParseStandard(usage, errors);
                break;
            case ChargeModel.Graduated or ChargeModel.Volume:
                tiers = ParseTiers(usage.Tiers, errors);
                break;
            case ChargeModel.Package:
                if (usage.PackageSize is null or <= 0)
                {
                    errors.Add(new("body.usage.packageSize", "packageSize (tokens per block) must be a positive integer", usage.PackageSize));
                }

                pricePerPackage = ParseAmount("body.usage.pricePerPackage", usage.PricePerPackage, errors, required: true) ?? 0;
                packageSize = usage.PackageSize ?? 0;
                if (usage.Tiers is not null)
                {
                    errors.Add(new("body.usage.tiers", "tiers are not used by the package charge model"));
                }

                break;
        }

        if (usage.FreeTokensPerMonth is < 0)
        {
            errors.Add(new("body.usage.freeTokensPerMonth", "freeTokensPerMonth must not be negative", usage.FreeTokensPerMonth));
        }

        if (usage.MonthlyTokenLimit is <= 0)
        {
            errors.Add(new("body.usage.monthlyTokenLimit", "monthlyTokenLimit must be positive, or null for no limit", usage.MonthlyTokenLimit));
        }

        var minimum = ParseAmount("body.usage.minimumMonthlySpend", usage.MinimumMonthlySpend, errors, required: false) ?? 0;
        if (Money.Round(minimum, currency) != minimum)
        {
            errors.Add(new("body.usage.minimumMonthlySpend", $"minimumMonthlySpend must be a whole amount of {currency}'s minor unit", usage.MinimumMonthlySpend));
        }

        return errors.Count > before
            ? null
            : new UsagePricing(chargeModel.Value, tiers, usage.FreeTokensPerMonth ?? 0, minimum, usage.MonthlyTokenLimit, packageSize, pricePerPackage);
    }

    private static List<PriceTier> ParseStandard(UsageDocument usage, List<FieldError> errors)
    {
        if (usage.Tiers is { Count: > 0 })
        {
            var tiers = ParseTiers(usage.Tiers, errors);
            if (tiers.Count > 1)
            {
                errors.Add(new("body.usage.tiers", "the standard charge model has a single price; use graduated or volume for tiers"));
            }

            return tiers;
        }

        var price = ParseAmount("body.usage.pricePer1k", usage.PricePer1k, errors, required: true);
        return price is null ? [] : [new PriceTier(null, price.Value)];
    }

    private static List<PriceTier> ParseTiers(List<TierDocument>? documents, List<FieldError> errors)
    {
        var tiers = new List<PriceTier>();
        if (documents is null || documents.Count == 0)
        {
            errors.Add(new("body.usage.tiers", "at least one tier is required"));
            return tiers;
        }

        long previous = 0;
        for (var i = 0; i < documents.Count; i++)
        {
            var at = $"body.usage.tiers[{i}]";
            if (documents[i] is not { } tier)
            {
                errors.Add(new(at, "each tier must be an object {upTo, pricePer1k}"));
                continue;
            }

            var price = ParseAmount(at + ".pricePer1k", tier.PricePer1k, errors, required: true);
            if (tier.From is { } from && from != previous)
            {
                errors.Add(new(at + ".from", from > previous
                    ? $"gap between tiers: tokens {previous + 1}..{from} are in no tier"
                    : $"tiers overlap: tier starts at {from} but the previous tier ends at {previous}", from));
            }

            var last = i == documents.Count - 1;
            if (tier.UpTo is null && !last)
            {
                errors.Add(new(at + ".upTo", "only the last tier may be unbounded (upTo null)"));
            }
            else if (tier.UpTo is not null && last)
            {
                errors.Add(new(at + ".upTo", "the last tier must be unbounded (upTo null) so every token has a price", tier.UpTo));
            }
            else if (tier.UpTo is { } upTo && upTo <= previous)
            {
                errors.Add(new(at + ".upTo", $"tiers overlap: upTo {upTo} must be greater than the previous tier's upTo {previous}", upTo));
            }

            if (price is not null)
            {
                tiers.Add(new PriceTier(tier.UpTo, price.Value));
            }

            previous = tier.UpTo ?? previous;
        }

        return tiers;
    }

    private static List<FieldError> Bounds(PricingDocument document)
    {
        var errors = new List<FieldError>();
        void Check(string at, string? text, decimal max, int? maxDecimals)
        {
            // Unreadable and negative amounts are reported by Parse.
            if (text is null || !decimal.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < 0)
            {
                return;
            }

            if (value > max)
            {
                errors.Add(new(at, string.Create(CultureInfo.InvariantCulture, $"amount must be at most {max:#,0}"), text));
            }
            else if (maxDecimals is { } digits && decimal.Round(value, digits) != value)
            {
                errors.Add(new(at, $"amount must have at most {digits} decimal places", text));
            }
        }

        Check("body.license.price", document.License?.Price, MaxAmount, null);
        if (document.Usage is { } usage)
        {
            Check("body.usage.pricePer1k", usage.PricePer1k, MaxRate, MaxRateDecimals);
            for (var i = 0; i < (usage.Tiers?.Count ?? 0); i++)
            {
                Check($"body.usage.tiers[{i}].pricePer1k", usage.Tiers![i]?.PricePer1k, MaxRate, MaxRateDecimals);
            }

            Check("body.usage.pricePerPackage", usage.PricePerPackage, MaxRate, MaxRateDecimals);
            Check("body.usage.minimumMonthlySpend", usage.MinimumMonthlySpend, MaxAmount, null);
        }

        return errors;
    }

    private static decimal? ParseAmount(string at, string? text, List<FieldError> errors, bool required)
    {
        if (text is null)
        {
            if (required)
            {
                errors.Add(new(at, "amount is required (a decimal string such as \"0.002\")"));
            }

            return null;
        }

        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add(new(at, "amount must be a decimal string such as \"0.002\"", text));
            return null;
        }

        if (value < 0)
        {
            errors.Add(new(at, "amount must not be negative", text));
            return null;
        }

        return value;
    }
}
