using UltraRepo.Domain.Common;

namespace UltraRepo.Domain.Tests.Common;

public class MoneyTests
{
    [Theory]
    [InlineData("0.125", "USD", "0.12")]
    [InlineData("0.135", "USD", "0.14")]
    [InlineData("0.1251", "USD", "0.13")]
    [InlineData("-0.125", "USD", "-0.12")]
    [InlineData("1.005", "EUR", "1.00")]
    [InlineData("0.0049999", "USD", "0.00")]
    [InlineData("2.5", "JPY", "2")]
    [InlineData("3.5", "JPY", "4")]
    [InlineData("1234.49", "KRW", "1234")]
    [InlineData("29", "USD", "29")]
    public void Round_RoundsHalfToEvenToTheMinorUnit(string amount, string currency, string expected) =>
        Assert.Equal(decimal.Parse(expected), Money.Round(decimal.Parse(amount), currency));

    [Theory]
    [InlineData("USD", 2)]
    [InlineData("EUR", 2)]
    [InlineData("JPY", 0)]
    [InlineData("KRW", 0)]
    public void MinorUnitDigits_KnownCurrency_ReturnsDigits(string currency, int digits) =>
        Assert.Equal(digits, Money.MinorUnitDigits(currency));

    [Theory]
    [InlineData("XYZ")]
    [InlineData("usd")]
    [InlineData("")]
    public void UnsupportedCurrency_IsNotSupportedAndRoundThrows(string currency)
    {
        Assert.False(Money.IsSupported(currency));
        Assert.Throws<ArgumentException>(() => Money.Round(1m, currency));
        Assert.Throws<ArgumentException>(() => Money.Format(1m, currency));
    }

    [Fact]
    public void IsSupported_Null_IsFalse() => Assert.False(Money.IsSupported(null));

    [Theory]
    [InlineData("29", "USD", "29.00")]
    [InlineData("1234567.5", "USD", "1234567.50")]
    [InlineData("-3.1", "EUR", "-3.10")]
    [InlineData("1000", "JPY", "1000")]
    [InlineData("0", "USD", "0.00")]
    public void Format_WithCurrency_WritesExactlyTheMinorUnitDigits(string amount, string currency, string expected) =>
        Assert.Equal(expected, Money.Format(decimal.Parse(amount), currency));

    [Theory]
    [InlineData("0.125", "USD")]
    [InlineData("2.5", "JPY")]
    public void Format_WithCurrency_RoundsLikeRound(string amount, string currency)
    {
        var value = decimal.Parse(amount);

        Assert.Equal(Money.Format(Money.Round(value, currency), currency), Money.Format(value, currency));
    }

    [Theory]
    [InlineData("0.0015", "0.0015")]
    [InlineData("0.00200", "0.002")]
    [InlineData("5", "5")]
    [InlineData("5.000", "5")]
    [InlineData("-0.5", "-0.5")]
    [InlineData("1234567.0000000001", "1234567.0000000001")]
    public void Format_WithoutCurrency_KeepsEverySignificantDigitAndNoTrailingZeros(string amount, string expected) =>
        Assert.Equal(expected, Money.Format(decimal.Parse(amount)));
}
