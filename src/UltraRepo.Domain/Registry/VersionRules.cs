using System.Text.RegularExpressions;
using Semver;

namespace UltraRepo.Domain.Registry;

/// <summary>
/// Which versions may be published and which one is "latest". Semantic versions (SemVer 2.0, e.g.
/// <c>1.2.3</c>, <c>2.0.0-rc.1</c>) are ordered by SemVer precedence; when either side is not a
/// semantic version the more recently published one is later.
/// </summary>
public static partial class VersionRules
{
    private const string V = @"v?\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z.-]+)?";

    [GeneratedRegex(@"^\s*(?:\^|~|>=|<=|>|<|=)\s*" + V + @"\s*$")]
    private static partial Regex Comparator();

    [GeneratedRegex(@"^\s*" + V + @"\s-\s*" + V + @"\s*$")]
    private static partial Regex HyphenRange();

    [GeneratedRegex(@"^\s*(?:" + V + @"\s*)(?:\|\|\s*" + V + @"\s*)+$")]
    private static partial Regex OrRange();

    [GeneratedRegex(@"^\s*(?:v?\d+|x|X|\*)(?:\.(?:\d+|x|X|\*)){1,2}(?:-[0-9A-Za-z.-]+)?\s*$")]
    private static partial Regex DottedWildcard();

    /// <summary>Returns why a version may not be published, or null. Same rules as the official registry.</summary>
    public static string? Check(string? version)
    {
        if (version == "latest")
        {
            return "version string 'latest' is reserved and cannot be used";
        }

        return version is not null && LooksLikeRange(version) ? $"version must be a specific version, not a range: \"{version}\"" : null;
    }

    /// <summary>
    /// Returns why a server version could not be addressed in a URL or gateway pin, or null. Stricter
    /// than the official registry: a version is one path segment (<c>/versions/{version}</c>) and must
    /// not be mistaken for the <c>latest</c> alias.
    /// </summary>
    public static string? CheckAddressable(string version)
    {
        if (version.Equals("latest", StringComparison.OrdinalIgnoreCase))
        {
            return "version string 'latest' is reserved (in any letter case) and cannot be used";
        }

        if (version.Contains('/'))
        {
            return "version cannot contain '/'";
        }

        return version.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? "version cannot contain whitespace or control characters"
            : null;
    }

    public static bool LooksLikeRange(string version)
    {
        var trimmed = version.Trim();
        if (trimmed.Length == 0)
        {
            return false;
        }

        if (Comparator().IsMatch(trimmed) || HyphenRange().IsMatch(trimmed) || OrRange().IsMatch(trimmed))
        {
            return true;
        }

        // A wildcard only counts in the dotted core (1.x, 1.2.*); the official registry also rejects
        // prereleases that merely contain an x (1.0.0-next), which we accept on purpose.
        if (DottedWildcard().IsMatch(trimmed))
        {
            var core = trimmed.Split('-', 2)[0];
            return core.Split('.').Any(part => part is "x" or "X" or "*");
        }

        return false;
    }

    public static bool IsSemantic(string version) => SemVersion.TryParse(version, SemVersionStyles.Strict, out _);

    /// <summary>Positive when (a, published a) is later than (b, published b).</summary>
    public static int Compare(string a, DateTime publishedA, string b, DateTime publishedB)
    {
        if (SemVersion.TryParse(a, SemVersionStyles.Strict, out var sa) && SemVersion.TryParse(b, SemVersionStyles.Strict, out var sb))
        {
            return sa.ComparePrecedenceTo(sb);
        }

        return publishedA.CompareTo(publishedB);
    }

    /// <summary>
    /// Picks the latest among versions; null when there are none. A non-semantic version starts a new
    /// line: the most recently published one is latest unless semantic versions were published after
    /// it, in which case the highest of those is. Without non-semantic versions this is plain SemVer
    /// precedence (ties go to the earlier publication). The result does not depend on input order.
    /// </summary>
    public static T? Latest<T>(IEnumerable<T> versions, Func<T, string> version, Func<T, DateTime> publishedAt) where T : class
    {
        var all = versions.ToList();
        var lastNonSemantic = all
            .Where(v => !IsSemantic(version(v)))
            .OrderByDescending(publishedAt).ThenByDescending(version, StringComparer.Ordinal)
            .FirstOrDefault();
        T? best = null;
        SemVersion? bestVersion = null;
        foreach (var candidate in all.OrderBy(publishedAt).ThenBy(version, StringComparer.Ordinal))
        {
            if (!SemVersion.TryParse(version(candidate), SemVersionStyles.Strict, out var semantic)
                || (lastNonSemantic is not null && publishedAt(candidate) <= publishedAt(lastNonSemantic)))
            {
                continue;
            }

            if (bestVersion is null || semantic.ComparePrecedenceTo(bestVersion) > 0)
            {
                best = candidate;
                bestVersion = semantic;
            }
        }

        return best ?? lastNonSemantic;
    }
}
