using System.Collections.Frozen;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using UltraRepo.Data;
using UltraRepo.Domain.Registry;
using UltraRepo.Registry;

namespace UltraRepo.Gateway;

/// <summary>Where the gateway sends a listing's traffic: one version's remote.</summary>
public sealed record GatewayUpstream(string Version, string TransportType, Uri Url, string Status);

/// <summary>
/// A routable listing as the gateway sees it. <paramref name="Latest"/> is the latest active version, null when every
/// version is deprecated: those stay reachable pinned (<c>@version</c>) only.
/// </summary>
public sealed record GatewayListing(
    string ServerName,
    Guid? OwnerId,
    string Tokenizer,
    string? CredentialHeader,
    byte[]? CredentialSecret,
    GatewayUpstream? Latest,
    FrozenDictionary<string, GatewayUpstream> Versions)
{
    public string Namespace => ServerName[..ServerName.IndexOf('/')];
    public string Name => ServerName[(ServerName.IndexOf('/') + 1)..];

    /// <summary>The address the listing's proxy cluster is created with (each request sets its own destination).</summary>
    public GatewayUpstream ClusterAddress => Latest ?? Versions.Values.OrderBy(v => v.Version, StringComparer.Ordinal).First();
}

/// <summary>
/// The gateway's in-memory view of every routable listing, rebuilt from the registry when it changes:
/// at once after a write on this node, and within <see cref="GatewayOptions.CatalogRefreshInterval"/>
/// after a write on another node (a cheap change marker is polled). The proxy's routes follow it
/// through <see cref="ChangeToken"/>.
/// </summary>
public sealed class GatewayCatalog(IServiceScopeFactory scopes, ILogger<GatewayCatalog> logger)
{
    private volatile Snapshot _snapshot = new(FrozenDictionary<string, GatewayListing>.Empty, "", new CancellationTokenSource());
    private readonly SemaphoreSlim _reload = new(1, 1);

    public FrozenDictionary<string, GatewayListing> Listings => _snapshot.Listings;

    public IChangeToken ChangeToken => new CancellationChangeToken(_snapshot.Changed.Token);

    public GatewayListing? Find(string serverName) => _snapshot.Listings.GetValueOrDefault(serverName);

    /// <summary>Reloads when the registry changed since the last load (or always when forced).</summary>
    public async Task RefreshAsync(bool force, CancellationToken ct)
    {
        await _reload.WaitAsync(ct);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var marker = await ChangeMarkerAsync(db, ct);
            if (!force && marker == _snapshot.Marker)
            {
                return;
            }

            var listings = await LoadAsync(db, ct);
            var previous = _snapshot;
            _snapshot = new Snapshot(listings, marker, new CancellationTokenSource());
            await previous.Changed.CancelAsync();
            logger.LogInformation("Gateway catalog loaded: {Count} routable listings", listings.Count);
        }
        finally
        {
            _reload.Release();
        }
    }

    private static async Task<string> ChangeMarkerAsync(MarketplaceDb db, CancellationToken ct)
    {
        var entries = await db.RegistryEntries.CountAsync(ct);
        var entriesUpdated = await db.RegistryEntries.MaxAsync(e => (DateTime?)e.UpdatedAt, ct);
        var listingsUpdated = await db.Listings.MaxAsync(l => (DateTime?)l.UpdatedAt, ct);
        return $"{entries}|{entriesUpdated:O}|{listingsUpdated:O}";
    }

    private static async Task<FrozenDictionary<string, GatewayListing>> LoadAsync(MarketplaceDb db, CancellationToken ct)
    {
        var rows = await db.RegistryEntries.AsNoTracking()
            .Where(e => e.HasRemote && e.Status != ServerStatus.Deleted)
            .Select(e => new { e.ServerName, e.Version, e.Status, e.ServerJson, e.PublishedAt })
            .ToListAsync(ct);
        var names = rows.Select(r => r.ServerName).Distinct().ToList();
        var settings = await db.Listings.AsNoTracking().Where(l => names.Contains(l.ServerName)).ToDictionaryAsync(l => l.ServerName, ct);

        var result = new Dictionary<string, GatewayListing>(StringComparer.OrdinalIgnoreCase);
        foreach (var group in rows.GroupBy(r => r.ServerName))
        {
            var versions = new Dictionary<string, GatewayUpstream>(StringComparer.Ordinal);
            var published = new Dictionary<string, DateTime>(StringComparer.Ordinal);
            foreach (var row in group)
            {
                if (ChooseRemote(ServerJsonSerializer.Deserialize(row.ServerJson)) is { } remote)
                {
                    versions[row.Version] = new GatewayUpstream(row.Version, remote.Type!, new Uri(remote.Url!), row.Status);
                    published[row.Version] = row.PublishedAt;
                }
            }

            if (versions.Count == 0)
            {
                continue;
            }

            var active = versions.Values.Where(v => v.Status == ServerStatus.Active).ToList();
            var latest = VersionRules.Latest(active, v => v.Version, v => published[v.Version]);

            var listing = settings.GetValueOrDefault(group.Key);
            result[group.Key] = new GatewayListing(
                group.Key, listing?.OwnerId, listing?.Tokenizer ?? "o200k_base", listing?.UpstreamHeaderName, listing?.UpstreamHeaderSecret,
                latest, versions.ToFrozenDictionary(StringComparer.Ordinal));
        }

        return result.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Streamable HTTP is preferred; legacy SSE otherwise. Templated URLs cannot be routed.</summary>
    private static Transport? ChooseRemote(ServerJson server)
    {
        var remotes = (server.Remotes ?? []).Where(r => r.Url is not null && !r.Url.Contains('{', StringComparison.Ordinal) && Uri.IsWellFormedUriString(r.Url, UriKind.Absolute)).ToList();
        return remotes.FirstOrDefault(r => r.Type == "streamable-http") ?? remotes.FirstOrDefault(r => r.Type == "sse");
    }

    private sealed record Snapshot(FrozenDictionary<string, GatewayListing> Listings, string Marker, CancellationTokenSource Changed);
}

/// <summary>Keeps the catalog fresh: reloads on a local signal or when the change marker moves.</summary>
public sealed class GatewayCatalogRefresher(GatewayCatalog catalog, IOptions<GatewayOptions> options, ILogger<GatewayCatalogRefresher> logger) : BackgroundService
{
    private readonly SemaphoreSlim _signal = new(0);

    public void Signal() => _signal.Release();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var signalled = await _signal.WaitAsync(options.Value.CatalogRefreshInterval, stoppingToken).ConfigureAwait(false);
            // One reload covers every change signalled so far (an import signals once per entry it writes).
            while (_signal.Wait(0, CancellationToken.None))
            {
            }
            try
            {
                await catalog.RefreshAsync(force: signalled, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Gateway catalog refresh failed; keeping the previous routes");
            }
        }
    }
}
