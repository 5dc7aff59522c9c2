using UltraRepo.Billing.Stripe;

namespace UltraRepo.Host.Tests.Billing.Stripe;

public sealed class StripeAmountsTests
{
    [Theory]
    [InlineData("29.00", "USD", 2900)]
    [InlineData("20.3", "EUR", 2030)]
    [InlineData("0.01", "GBP", 1)]
    [InlineData("500", "JPY", 500)]
    [InlineData("12345", "KRW", 12345)]
    public void MinorUnits_UsesTheCurrencysMinorUnit(string amount, string currency, long expected) =>
        Assert.Equal(expected, StripeAmounts.MinorUnits(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), currency));

    [Theory]
    [InlineData("0.005", "USD")]
    [InlineData("1.5", "JPY")]
    public void MinorUnits_FinerThanTheMinorUnit_Throws(string amount, string currency) =>
        Assert.Throws<ArgumentException>(() => StripeAmounts.MinorUnits(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), currency));

    [Fact]
    public void Currency_IsLowerCase() => Assert.Equal("usd", StripeAmounts.Currency("USD"));
}
