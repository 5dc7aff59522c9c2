using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;

namespace UltraRepo.Accounts;

/// <summary>
/// Who may publish under which namespace: every user owns <c>com.ultrarepo.&lt;handle&gt;</c>
/// exactly; admins grant others; admins may act on any namespace.
/// </summary>
public static class NamespacePolicy
{
    public static async Task<IReadOnlyList<string>> PublishableNamespacesAsync(MarketplaceDb db, User user, CancellationToken ct)
    {
        var granted = await db.NamespaceGrants.AsNoTracking()
            .Where(g => g.UserId == user.Id)
            .OrderBy(g => g.Namespace)
            .Select(g => g.Namespace)
            .ToListAsync(ct);
        return [user.OwnNamespace, .. granted];
    }

    public static bool Covers(string ownedNamespace, string serverNamespace) =>
        string.Equals(ownedNamespace, serverNamespace, StringComparison.OrdinalIgnoreCase);

    public static bool MayPublish(IEnumerable<string> owned, string serverNamespace) =>
        owned.Any(n => Covers(n, serverNamespace));
}
