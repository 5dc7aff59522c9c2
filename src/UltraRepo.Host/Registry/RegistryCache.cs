using Microsoft.AspNetCore.OutputCaching;

namespace UltraRepo.Registry;

/// <summary>
/// Anonymous reads of the registry and catalog are served from the output cache: listing pages
/// change rarely and are read constantly. Every write (publish, status, pricing, import) evicts them
/// on this node at once; other nodes' entries expire after <see cref="Lifetime"/>, or at once when the
/// cache store is shared (Redis in scale-out).
/// </summary>
public sealed class RegistryCache(IOutputCacheStore store)
{
    public const string Policy = "registry";
    public const string Tag = "registry";
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(10);

    public static void Configure(OutputCacheOptions options, bool enabled)
    {
        // Server names and versions are case-sensitive (com.x/Tool and com.x/tool are two servers),
        // so the cache key must keep the path's case or one would be served the other's document.
        options.UseCaseSensitivePaths = true;
        options.AddPolicy(Policy, b =>
        {
            b.Expire(Lifetime).SetVaryByQuery("*").Tag(Tag);
            if (!enabled)
            {
                b.NoCache();
            }
        });
    }

    /// <summary>Raised after any write to the registry, its listings or their pricing (e.g. the gateway reloads its routes).</summary>
    public event Action? Changed;

    public async ValueTask InvalidateAsync(CancellationToken ct)
    {
        await store.EvictByTagAsync(Tag, ct);
        Changed?.Invoke();
    }
}
