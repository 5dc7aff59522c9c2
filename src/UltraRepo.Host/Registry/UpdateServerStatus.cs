using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;

namespace UltraRepo.Registry;

public abstract record StatusOutcome
{
    public sealed record Updated(IReadOnlyList<RegistryEntry> Entries) : StatusOutcome;
    public sealed record Invalid(FieldError Error) : StatusOutcome;
    public sealed record NoChange(string Message) : StatusOutcome;
    public sealed record NotFound(string Message) : StatusOutcome;
    public sealed record Forbidden(string Message) : StatusOutcome;
}

public sealed record StatusRequest(string? Status, string? StatusMessage);

/// <summary>
/// Lifecycle changes (active, deprecated, deleted) for one version or all versions of a server, in one
/// transaction, with the official registry's rules: any transition is allowed, a message is not allowed
/// with "active", an omitted message clears the old one, and latest is recomputed.
/// </summary>
public sealed class UpdateServerStatus(MarketplaceDb db, RegistryWriteLock writeLock, RegistryCache cache, TimeProvider clock)
{
    public async Task<StatusOutcome> UpdateAsync(string serverName, string? version, StatusRequest request, ClaimsPrincipal caller, CancellationToken ct)
    {
        if (!ServerStatus.IsValid(request.Status))
        {
            return new StatusOutcome.Invalid(new("body.status", "expected value to be one of \"active, deprecated, deleted\"", request.Status));
        }

        if (request.StatusMessage is { Length: > 500 })
        {
            return new StatusOutcome.Invalid(new("body.statusMessage", "expected length <= 500", request.StatusMessage));
        }

        if (request.Status == ServerStatus.Active && request.StatusMessage is not null)
        {
            return new StatusOutcome.Invalid(new("body.statusMessage", "status_message cannot be provided when setting status to active"));
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await using var _ = await writeLock.AcquireAsync(db, serverName, ct);
        var versions = await db.RegistryEntries.Where(e => e.ServerName == serverName).ToListAsync(ct);
        var targets = version is null ? versions : versions.Where(v => v.Version == version).ToList();
        if (targets.Count == 0)
        {
            return new StatusOutcome.NotFound(version is null ? "Server not found" : "Server version not found");
        }

        if (!await MayManageAsync(serverName, caller, ct))
        {
            return new StatusOutcome.Forbidden("You do not have publish or edit permissions for this server");
        }

        var changing = targets.Where(t => t.Status != request.Status || t.StatusMessage != request.StatusMessage).ToList();
        if (changing.Count == 0)
        {
            return new StatusOutcome.NoChange(version is null
                ? "No changes to apply: all versions already have the requested status and message"
                : "No changes to apply: status and message are already set to the provided values");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var entry in changing)
        {
            if (entry.Status != request.Status)
            {
                entry.StatusChangedAt = now;
            }

            entry.Status = request.Status!;
            entry.StatusMessage = request.StatusMessage;
            entry.UpdatedAt = now;
        }

        await LatestVersion.ApplyAsync(db, versions, ct);
        await tx.CommitAsync(ct);
        await cache.InvalidateAsync(ct);
        return new StatusOutcome.Updated(targets.OrderByDescending(t => t.PublishedAt).ToList());
    }

    /// <summary>The listing's owner, anyone who may publish to its namespace, and admins (moderation).</summary>
    private async Task<bool> MayManageAsync(string serverName, ClaimsPrincipal caller, CancellationToken ct)
    {
        if (caller.IsAdmin())
        {
            return true;
        }

        var userId = caller.GetUserId();
        if (await db.Listings.AnyAsync(l => l.ServerName == serverName && l.OwnerId == userId, ct))
        {
            return true;
        }

        var user = await db.Users.AsNoTracking().FirstAsync(u => u.Id == userId, ct);
        var owned = await NamespacePolicy.PublishableNamespacesAsync(db, user, ct);
        return NamespacePolicy.MayPublish(owned, serverName[..serverName.IndexOf('/')]);
    }
}
