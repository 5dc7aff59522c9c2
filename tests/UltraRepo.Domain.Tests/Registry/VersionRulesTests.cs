using CsCheck;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Domain.Tests.Registry;

public class VersionRulesTests
{
    private static readonly DateTime T0 = new(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private sealed record Published(string Version, DateTime At);

    private static string? LatestOf(params Published[] versions) =>
        VersionRules.Latest(versions, v => v.Version, v => v.At)?.Version;

    [Theory]
    [InlineData("^1.0.0")]
    [InlineData("~1.2")]
    [InlineData(">=1.0")]
    [InlineData("<= 2.0.0")]
    [InlineData(">1")]
    [InlineData("<v2.0.0")]
    [InlineData("=1.0.0")]
    [InlineData("1.x")]
    [InlineData("1.X.0")]
    [InlineData("1.2.*")]
    [InlineData("x.1")]
    [InlineData("1.0 - 2.0")]
    [InlineData("1.2.3 - 2.0.0-rc.1")]
    [InlineData("1.2 || 1.3")]
    [InlineData("1.0.0||2.0.0||3.0.0")]
    [InlineData("  ^1.0.0  ")]
    public void LooksLikeRange_Range_IsTrue(string version) => Assert.True(VersionRules.LooksLikeRange(version));

    [Theory]
    [InlineData("1.0.0")]
    [InlineData("1.0.0-next")]
    [InlineData("1.0.0-x.1")]
    [InlineData("2.0.0-rc.1")]
    [InlineData("1.0.0-2.0.0")]
    [InlineData("1.0.0+build")]
    [InlineData("2024.05.01")]
    [InlineData("v1")]
    [InlineData("v1.2.3")]
    [InlineData("1")]
    [InlineData("nightly-2025-01-01")]
    [InlineData("")]
    [InlineData("   ")]
    public void LooksLikeRange_SpecificVersion_IsFalse(string version) => Assert.False(VersionRules.LooksLikeRange(version));

    [Theory]
    [InlineData("latest", "version string 'latest' is reserved and cannot be used")]
    [InlineData("~1.2", "version must be a specific version, not a range: \"~1.2\"")]
    [InlineData("1.0.0", null)]
    [InlineData("Latest", null)]
    [InlineData(null, null)]
    public void Check_ReturnsWhyAVersionCannotBePublished(string? version, string? expected) =>
        Assert.Equal(expected, VersionRules.Check(version));

    [Theory]
    [InlineData("1.0.0", true)]
    [InlineData("1.0.0-rc.1+build.5", true)]
    [InlineData("v1.0.0", false)]
    [InlineData("1.0", false)]
    [InlineData("01.0.0", false)]
    [InlineData("2024.05.01", false)]
    public void IsSemantic_AcceptsStrictSemVerOnly(string version, bool expected) =>
        Assert.Equal(expected, VersionRules.IsSemantic(version));

    [Theory]
    [InlineData("1.0.0-alpha.10", "1.0.0-alpha.2")]
    [InlineData("1.0.0-alpha.beta", "1.0.0-alpha.1")]
    [InlineData("1.0.0-rc.1", "1.0.0-beta.11")]
    [InlineData("1.0.0", "1.0.0-rc.1")]
    [InlineData("1.10.0", "1.9.0")]
    [InlineData("2.0.0", "1.99.99")]
    public void Compare_BothSemantic_UsesSemVerPrecedenceNotPublishTime(string later, string earlier)
    {
        // The version with the higher precedence was published first; precedence still wins.
        Assert.True(VersionRules.Compare(later, T0, earlier, T0.AddDays(1)) > 0);
        Assert.True(VersionRules.Compare(earlier, T0.AddDays(1), later, T0) < 0);
    }

    [Fact]
    public void Compare_BuildMetadataOnly_HasEqualPrecedence() =>
        Assert.Equal(0, VersionRules.Compare("1.0.0+build.2", T0.AddDays(1), "1.0.0+build.1", T0));

    [Theory]
    [InlineData("2024.05.01", "1.0.0")]
    [InlineData("1.0.0", "2024.05.01")]
    [InlineData("v2", "v10")]
    [InlineData("nightly", "2.0.0")]
    public void Compare_EitherNotSemantic_LaterPublishedIsLater(string a, string b)
    {
        Assert.True(VersionRules.Compare(a, T0.AddHours(1), b, T0) > 0);
        Assert.True(VersionRules.Compare(a, T0, b, T0.AddHours(1)) < 0);
    }

    [Fact]
    public void Latest_NoVersions_IsNull() => Assert.Null(LatestOf());

    [Fact]
    public void Latest_PrereleasePublishedAfterItsRelease_IsNotLatest() =>
        Assert.Equal("1.0.0", LatestOf(new("1.0.0-rc.1", T0), new("1.0.0", T0.AddDays(1)), new("1.0.0-rc.2", T0.AddDays(2))));

    [Fact]
    public void Latest_BackportPublishedAfterNewerRelease_IsNotLatest() =>
        Assert.Equal("2.0.0", LatestOf(new("1.0.0", T0), new("2.0.0", T0.AddDays(1)), new("1.0.1", T0.AddDays(2))));

    [Fact]
    public void Latest_PrereleaseNumbersCompareNumerically() =>
        Assert.Equal("1.0.0-alpha.10", LatestOf(new("1.0.0-alpha.10", T0), new("1.0.0-alpha.2", T0.AddDays(1))));

    [Fact]
    public void Latest_NonSemanticVersionsOnly_IsTheMostRecentlyPublished() =>
        Assert.Equal("2024.01.07", LatestOf(new("2024.05.01", T0), new("2024.01.07", T0.AddDays(3)), new("v9", T0.AddDays(1))));

    [Fact]
    public void Latest_NonSemanticPublishedAfterSemantic_IsLatest() =>
        Assert.Equal("nightly", LatestOf(new("1.0.0", T0), new("nightly", T0.AddDays(1))));

    [Fact]
    public void Latest_MixedSemanticAndNonSemantic_DoesNotDependOnInputOrder()
    {
        Published a = new("2.0.0", T0), nightly = new("nightly", T0.AddDays(1)), b = new("1.0.0", T0.AddDays(2));

        Assert.Equal(LatestOf(a, b, nightly), LatestOf(nightly, a, b));
        // A non-semantic version starts a new line; semantic versions published after it compete by precedence.
        Assert.Equal("1.0.0", LatestOf(nightly, a, b));
    }

    // Strictly increasing SemVer precedence (semver.org section 11 plus numeric ordering of each field).
    private static readonly string[] Ascending =
    [
        "0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.2", "1.0.0-alpha.10", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "10.0.0",
    ];

    [Fact]
    public void Latest_SemanticVersionsWithDistinctPrecedence_DoesNotDependOnInputOrderOrPublishTime()
    {
        var gen =
            from indices in Gen.Int[0, Ascending.Length - 1].HashSet[1, Ascending.Length]
            from minutes in Gen.Int[0, 10_000].Array[indices.Count]
            from order in Gen.Shuffle(indices.Select((index, i) => new Published(Ascending[index], T0.AddMinutes(minutes[i]))).ToArray())
            select (Expected: Ascending[indices.Max()], Order: order);

        gen.Sample(t => Assert.Equal(t.Expected, VersionRules.Latest(t.Order, p => p.Version, p => p.At)!.Version), iter: 500);
    }
}
