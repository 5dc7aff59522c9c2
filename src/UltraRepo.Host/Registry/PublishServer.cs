using System.Security.Claims;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Registry;

public abstract record PublishOutcome
{
    public sealed record Published(RegistryEntry Entry) : PublishOutcome;
    public sealed record Invalid(IReadOnlyList<FieldError> Errors) : PublishOutcome;
    public sealed record Forbidden(string Message) : PublishOutcome;
    public sealed record Duplicate(string Message) : PublishOutcome;
    public sealed record Rejected(string Message, string Location) : PublishOutcome;
}

/// <summary>Publishes one server version: validation, namespace ownership, immutability, latest flag.</summary>
public sealed class PublishServer(MarketplaceDb db, RegistryWriteLock writeLock, RegistryCache cache, TimeProvider clock, IOptions<RegistryOptions> options)
{
    public const int MaxVersionsPerServer = 10000;

    public async Task<PublishOutcome> PublishAsync(ServerJson document, ClaimsPrincipal publisher, CancellationToken ct)
    {
        var errors = ServerJsonValidator.Validate(document, options.Value.AllowPrivateRemotes);
        if (errors.Count > 0)
        {
            return new PublishOutcome.Invalid(errors);
        }

        var userId = publisher.GetUserId();
        var user = await db.Users.AsNoTracking().FirstAsync(u => u.Id == userId, ct);
        var owned = await NamespacePolicy.PublishableNamespacesAsync(db, user, ct);
        if (!user.IsAdmin && !NamespacePolicy.MayPublish(owned, document.Namespace))
        {
            return new PublishOutcome.Forbidden(
                $"You do not have permission to publish this server. You have permission to publish: {string.Join(", ", owned.Select(n => n + "/*"))}. Attempting to publish: {document.Name}");
        }

        return await StoreAsync(document, userId, EntryOrigin.Published, ct);
    }

    /// <summary>Stores a validated, authorized document as a new version.</summary>
    internal async Task<PublishOutcome> StoreAsync(ServerJson document, Guid? publisherId, string origin, CancellationToken ct, DateTime? publishedAt = null)
    {
        var normalized = ServerJsonValidator.Normalize(document);
        var name = normalized.Name!;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await using var _ = await writeLock.AcquireAsync(db, name, ct);

        var versions = await db.RegistryEntries.Where(e => e.ServerName == name).ToListAsync(ct);
        if (versions.Any(v => v.Version == normalized.Version))
        {
            return new PublishOutcome.Duplicate($"invalid version: cannot publish duplicate version: {name}@{normalized.Version} already exists");
        }

        if (versions.Count >= MaxVersionsPerServer)
        {
            return new PublishOutcome.Rejected($"maximum number of versions for this server reached ({MaxVersionsPerServer})", "body.version");
        }

        var listing = await db.Listings.FirstOrDefaultAsync(l => l.ServerName == name, ct);
        if (listing?.OwnerId is { } ownerId && publisherId is { } pid && ownerId != pid && !await IsAdminAsync(pid, ct))
        {
            return new PublishOutcome.Forbidden($"{name} belongs to another publisher");
        }

        var conflict = await RemoteUrlConflictAsync(normalized, ct);
        if (conflict is not null)
        {
            return conflict;
        }

        var now = publishedAt ?? clock.GetUtcNow().UtcDateTime;
        var entry = new RegistryEntry
        {
            ServerName = name,
            Version = normalized.Version!,
            Namespace = normalized.Namespace,
            Title = normalized.Title,
            Description = normalized.Description!,
            ServerJson = ServerJsonSerializer.Serialize(normalized),
            StatusChangedAt = now,
            PublishedAt = now,
            UpdatedAt = now,
            PublisherId = publisherId,
            Origin = origin,
            HasRemote = normalized.Remotes is { Count: > 0 },
            HasPackage = normalized.Packages is { Count: > 0 },
            RegistryTypes = " " + string.Join(' ', (normalized.Packages ?? []).Select(p => p.RegistryType!.ToLowerInvariant()).Distinct()) + " ",
        };
        db.RegistryEntries.Add(entry);
        if (listing is null)
        {
            db.Listings.Add(new Listing { ServerName = name, OwnerId = publisherId, CreatedAt = now, UpdatedAt = now });
        }

        versions.Add(entry);
        await LatestVersion.ApplyAsync(db, versions, ct);
        await tx.CommitAsync(ct);
        await cache.InvalidateAsync(ct);
        return new PublishOutcome.Published(entry);
    }

    private async Task<bool> IsAdminAsync(Guid userId, CancellationToken ct) =>
        await db.Users.AnyAsync(u => u.Id == userId && u.IsAdmin, ct);

    // The official registry refuses a remote URL already used by a different, non-deleted server.
    private async Task<PublishOutcome?> RemoteUrlConflictAsync(ServerJson server, CancellationToken ct)
    {
        for (var i = 0; i < (server.Remotes?.Count ?? 0); i++)
        {
            var url = server.Remotes![i].Url!;
            var pattern = "%" + JsonSerializer.Serialize(url, ServerJsonSerializer.Options).Trim('"') + "%";
            var others = await db.RegistryEntries.AsNoTracking()
                .Where(e => e.ServerName != server.Name && e.HasRemote && e.Status != ServerStatus.Deleted && EF.Functions.Like(e.ServerJson, pattern))
                .Select(e => new { e.ServerName, e.ServerJson })
                .ToListAsync(ct);
            var other = others.FirstOrDefault(o => ServerJsonSerializer.Deserialize(o.ServerJson).Remotes?.Any(r => r.Url == url) == true);
            if (other is not null)
            {
                return new PublishOutcome.Rejected($"remote URL {url} is already used by server {other.ServerName}", $"body.remotes[{i}].url");
            }
        }

        return null;
    }
}
