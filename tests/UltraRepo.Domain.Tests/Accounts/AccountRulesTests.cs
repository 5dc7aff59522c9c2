using UltraRepo.Domain.Accounts;

namespace UltraRepo.Domain.Tests.Accounts;

public class AccountRulesTests
{
    private const string GoodPassword = "correct-horse-42";

    [Fact]
    public void ValidateRegistration_ValidInput_HasNoErrors() =>
        Assert.Empty(AccountRules.ValidateRegistration("alice@example.com", GoodPassword, "alice"));

    [Fact]
    public void ValidateRegistration_NothingGiven_ReportsEveryRequiredField()
    {
        var errors = AccountRules.ValidateRegistration(null, null, " ");

        Assert.Equal(
            [("body.email", "email is required"), ("body.handle", "handle is required"), ("body.password", "password is required")],
            errors.Select(e => (e.Location, e.Message)));
    }

    [Theory]
    [InlineData("alice@example.com")]
    [InlineData("  Alice.Smith+mcp@Example.co.uk ")]
    public void ValidateRegistration_WellFormedEmail_IsAccepted(string email) =>
        Assert.Empty(AccountRules.ValidateRegistration(email, GoodPassword, "alice"));

    [Theory]
    [InlineData("alice")]
    [InlineData("alice@example")]
    [InlineData("alice@@example.com")]
    [InlineData("ali ce@example.com")]
    [InlineData("@example.com")]
    public void ValidateRegistration_MalformedEmail_IsRefused(string email)
    {
        var error = Assert.Single(AccountRules.ValidateRegistration(email, GoodPassword, "alice"));

        Assert.Equal(("body.email", "email must be a valid address like name@example.com", (object?)email), (error.Location, error.Message, error.Value));
    }

    [Fact]
    public void ValidateRegistration_EmailLongerThan254_IsRefused()
    {
        var local = new string('a', 64);
        var fits = local + "@" + new string('b', 254 - 64 - 1 - 4) + ".com";

        Assert.Empty(AccountRules.ValidateRegistration(fits, GoodPassword, "alice"));
        Assert.Equal("body.email", Assert.Single(AccountRules.ValidateRegistration(fits + "m", GoodPassword, "alice")).Location);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("Alice", true)]
    [InlineData(" bob-smith-2 ", true)]
    [InlineData("a--b", true)]
    [InlineData("-alice", false)]
    [InlineData("alice-", false)]
    [InlineData("alice_smith", false)]
    [InlineData("alice.smith", false)]
    [InlineData("álice", false)]
    public void ValidateRegistration_Handle_MustBeLowercaseAlphanumericWithInnerHyphens(string handle, bool accepted)
    {
        var errors = AccountRules.ValidateRegistration("someone@example.com", GoodPassword, handle);

        Assert.Equal(accepted ? [] : ["body.handle"], errors.Select(e => e.Location));
    }

    [Fact]
    public void ValidateRegistration_HandleOf39Characters_IsAcceptedAnd40IsNot()
    {
        Assert.Empty(AccountRules.ValidateRegistration("someone@example.com", GoodPassword, new string('h', 39)));

        var error = Assert.Single(AccountRules.ValidateRegistration("someone@example.com", GoodPassword, new string('h', 40)));
        Assert.Equal("handle must be 1-39 characters of a-z, 0-9 and '-', not starting or ending with '-'", error.Message);
    }

    [Fact]
    public void ValidateRegistration_WeakPassword_ReportsTheRuleWithoutEchoingThePassword()
    {
        var error = Assert.Single(AccountRules.ValidateRegistration("alice@example.com", "short1!", "alice"));

        Assert.Equal(("body.password", "password must be at least 10 characters long"), (error.Location, error.Message));
        Assert.Null(error.Value);
    }

    [Theory]
    [InlineData(null, "password is required")]
    [InlineData("", "password is required")]
    [InlineData("abcdefg1!", "password must be at least 10 characters long")]
    [InlineData("aaaaaaaa11", "password must contain at least 5 different characters")]
    [InlineData("abab121212", "password must contain at least 5 different characters")]
    [InlineData("abcdefghij", "password must mix letters with digits or symbols")]
    [InlineData("ABCDEFGHIJ", "password must mix letters with digits or symbols")]
    [InlineData("1234567890", "password must mix letters with digits or symbols")]
    [InlineData("!@#$%^&*()", "password must mix letters with digits or symbols")]
    [InlineData("abcdefghi1", null)]
    [InlineData("horse battery", null)]
    public void CheckPassword_ReturnsTheBrokenRule(string? password, string? expected) =>
        Assert.Equal(expected, AccountRules.CheckPassword(password));

    [Fact]
    public void CheckPassword_LengthLimits_AreInclusive()
    {
        Assert.Null(AccountRules.CheckPassword("abcd1" + new string('x', 251)));
        Assert.Equal("password must be at most 256 characters long", AccountRules.CheckPassword("abcd1" + new string('x', 252)));
    }

    [Theory]
    [InlineData("my-Alice-pass-9", "alice", "password must not contain the handle")]
    [InlineData("my-alice-pass-9", " ALICE ", "password must not contain the handle")]
    [InlineData("my-al-pass-99", "al", null)]
    public void CheckPassword_ContainingTheHandle_IsRefusedForHandlesOf3OrMore(string password, string handle, string? expected) =>
        Assert.Equal(expected, AccountRules.CheckPassword(password, "someone@example.com", handle));

    [Theory]
    [InlineData("Bob.Smith#2024", "bob.smith@example.com", "password must not contain the email address")]
    [InlineData("xx-bob-2024-xx", "BOB@example.com", "password must not contain the email address")]
    [InlineData("xx-bo-2024-xx", "bo@example.com", null)]
    [InlineData("example.com-2024", "bob@example.com", null)]
    public void CheckPassword_ContainingTheEmailLocalPart_IsRefusedForLocalPartsOf3OrMore(string password, string email, string? expected) =>
        Assert.Equal(expected, AccountRules.CheckPassword(password, email, "zed"));

    [Fact]
    public void CheckPassword_ContainingHandleAndEmail_ReportsTheHandleFirst() =>
        Assert.Equal("password must not contain the handle", AccountRules.CheckPassword("alice-and-bob-1", "bob@example.com", "alice"));

    [Theory]
    [InlineData("  Alice@Example.COM ", "alice@example.com")]
    [InlineData("bob@example.com", "bob@example.com")]
    public void NormalizeEmail_TrimsAndLowercases(string email, string expected) => Assert.Equal(expected, AccountRules.NormalizeEmail(email));

    [Fact]
    public void NormalizeHandle_TrimsAndLowercases() => Assert.Equal("alice-2", AccountRules.NormalizeHandle(" Alice-2 "));
}
