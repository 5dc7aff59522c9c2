using UltraRepo.Data;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Registry;

internal static class LatestVersion
{
    /// <summary>
    /// Marks the latest version among a server's (tracked) versions: the highest that is not deleted;
    /// when all are deleted, the highest deleted one keeps the flag (as the official registry does), so
    /// <c>include_deleted</c> lookups of "latest" still resolve. Flags are cleared in a first save so the
    /// one-latest-per-server unique index never sees two.
    /// </summary>
    public static async Task ApplyAsync(MarketplaceDb db, IReadOnlyCollection<RegistryEntry> versions, CancellationToken ct)
    {
        var alive = versions.Where(v => v.Status != ServerStatus.Deleted).ToList();
        var latest = VersionRules.Latest(alive.Count > 0 ? alive : versions, v => v.Version, v => v.PublishedAt);
        if (versions.All(v => v.IsLatest == ReferenceEquals(v, latest)))
        {
            await db.SaveChangesAsync(ct);
            return;
        }

        foreach (var version in versions)
        {
            version.IsLatest = false;
        }

        await db.SaveChangesAsync(ct);
        if (latest is not null)
        {
            latest.IsLatest = true;
            await db.SaveChangesAsync(ct);
        }
    }
}
