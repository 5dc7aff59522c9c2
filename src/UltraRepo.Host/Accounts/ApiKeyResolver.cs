using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using UltraRepo.Data;

namespace UltraRepo.Accounts;

/// <summary>The owner of a valid key, as the authentication handler and the gateway need it.</summary>
public sealed record ResolvedKey(Guid KeyId, User User);

/// <summary>
/// Resolves API keys to their owner with a short in-memory cache, so the gateway's hot path
/// does not query the database per request. Revocation evicts the local entry at once; other
/// nodes see it when their entry turns stale (<see cref="CacheLifetime"/>). While the database is
/// unreachable, a stale entry keeps being used (for up to <see cref="StaleLimit"/>) instead of failing.
/// </summary>
public sealed class ApiKeyResolver(IServiceScopeFactory scopes, IMemoryCache cache, TimeProvider clock, ILogger<ApiKeyResolver> logger)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StaleLimit = TimeSpan.FromHours(1);
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public async ValueTask<ResolvedKey?> ResolveAsync(string key, CancellationToken cancellationToken)
    {
        if (!ApiKeySecrets.LooksLikeKey(key))
        {
            return null;
        }

        var hash = ApiKeySecrets.Hash(key);
        var now = clock.GetUtcNow().UtcDateTime;
        cache.TryGetValue(CacheKey(hash), out CachedKey? cached);
        if (cached is not null && now - cached.LoadedAt < CacheLifetime)
        {
            await TouchAsync(cached, cancellationToken);
            return cached.Resolved;
        }

        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var row = await db.ApiKeys.AsNoTracking()
                .Where(k => k.Hash == hash && k.RevokedAt == null)
                .Join(db.Users, k => k.UserId, u => u.Id, (k, u) => new { k.Id, k.LastUsedAt, User = u })
                .FirstOrDefaultAsync(cancellationToken);
            if (row is null)
            {
                cache.Remove(CacheKey(hash));
                return null;
            }

            var entry = new CachedKey(new ResolvedKey(row.Id, row.User), now) { LastUsedWritten = row.LastUsedAt ?? DateTime.MinValue };
            cache.Set(CacheKey(hash), entry, StaleLimit);
            await TouchAsync(entry, cancellationToken);
            return entry.Resolved;
        }
        catch (Exception e) when (cached is not null && e is not OperationCanceledException)
        {
            logger.LogWarning("Key lookup failed ({Error}); using the cached owner", e.GetBaseException().Message);
            return cached.Resolved;
        }
    }

    public void Evict(string hash) => cache.Remove(CacheKey(hash));

    private async ValueTask TouchAsync(CachedKey entry, CancellationToken cancellationToken)
    {
        // Last use is recorded at minute resolution: one cheap UPDATE per key per minute, not per request.
        var now = clock.GetUtcNow().UtcDateTime;
        if (now - entry.LastUsedWritten < LastUsedResolution)
        {
            return;
        }

        entry.LastUsedWritten = now;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var keyId = entry.Resolved.KeyId;
            await db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Bookkeeping only: never fail a request over it.
            logger.LogDebug("Could not record a key's last use: {Error}", e.GetBaseException().Message);
        }
    }

    private static string CacheKey(string hash) => "apikey:" + hash;

    private sealed class CachedKey(ResolvedKey resolved, DateTime loadedAt)
    {
        public ResolvedKey Resolved { get; } = resolved;
        public DateTime LoadedAt { get; } = loadedAt;
        public DateTime LastUsedWritten { get; set; }
    }
}
