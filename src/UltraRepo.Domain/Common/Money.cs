namespace UltraRepo.Domain.Common;

/// <summary>
/// The one rounding rule: amounts are carried unrounded (decimal, exact) through rating, and rounded
/// once, half-to-even ("banker's rounding"), to the currency's minor unit when they become a line on
/// an invoice, a ledger entry or a displayed total.
/// </summary>
public static class Money
{
    private static readonly Dictionary<string, int> MinorUnits = new(StringComparer.Ordinal)
    {
        ["USD"] = 2, ["EUR"] = 2, ["GBP"] = 2, ["CHF"] = 2, ["CAD"] = 2, ["AUD"] = 2, ["NZD"] = 2,
        ["SEK"] = 2, ["NOK"] = 2, ["DKK"] = 2, ["PLN"] = 2, ["CZK"] = 2, ["INR"] = 2, ["BRL"] = 2,
        ["MXN"] = 2, ["SGD"] = 2, ["HKD"] = 2, ["CNY"] = 2, ["ZAR"] = 2, ["JPY"] = 0, ["KRW"] = 0,
    };

    public static IReadOnlyCollection<string> SupportedCurrencies => MinorUnits.Keys;

    public static bool IsSupported(string? currency) => currency is not null && MinorUnits.ContainsKey(currency);

    public static int MinorUnitDigits(string currency) =>
        MinorUnits.TryGetValue(currency, out var digits) ? digits : throw new ArgumentException($"unsupported currency {currency}", nameof(currency));

    /// <summary>
    /// Whether a plain decimal string such as <c>"25.50"</c> has no more fraction digits than the currency's minor
    /// unit (trailing zeros do not count), i.e. whether taking it as an amount of the currency rounds nothing.
    /// Read from the text, because parsing a longer fraction into a decimal may already round it.
    /// </summary>
    public static bool FitsMinorUnit(string amount, string currency)
    {
        var point = amount.IndexOf('.');
        return point < 0 || amount.AsSpan(point + 1).TrimEnd('0').Length <= MinorUnitDigits(currency);
    }

    public static decimal Round(decimal amount, string currency) =>
        Math.Round(amount, MinorUnitDigits(currency), MidpointRounding.ToEven);

    /// <summary>An amount in a currency with exactly its minor-unit digits, e.g. <c>29.00</c> USD.</summary>
    public static string Format(decimal amount, string currency) =>
        Round(amount, currency).ToString("F" + MinorUnitDigits(currency), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A rate or unrounded amount with every significant digit and no trailing zeros.</summary>
    public static string Format(decimal amount) => amount.ToString("0.############################", System.Globalization.CultureInfo.InvariantCulture);
}
