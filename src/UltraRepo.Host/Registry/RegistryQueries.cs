using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Pricing;

namespace UltraRepo.Registry;

public sealed record ServerListQuery(string? Cursor, int Limit, string? Search, DateTime? UpdatedSince, string? Version, bool IncludeDeleted);

public sealed record ServerPage(IReadOnlyList<RegistryEntry> Entries, string? NextCursor, IReadOnlyDictionary<string, MarketplaceInfo> Marketplace);

/// <summary>The official registry's read queries, with its semantics (ordering, cursor, filters).</summary>
public sealed class RegistryQueries(MarketplaceDb db, PricingCatalog pricing, IOptions<RegistryOptions> options)
{
    public const int DefaultLimit = 30;
    public const int MaxLimit = 100;

    /// <summary>Parses the query string the way the official registry does; errors carry their location.</summary>
    public static (ServerListQuery? Query, FieldError? Error) ParseListQuery(string? cursor, string? limit, string? search, string? updatedSince, string? version, string? includeDeleted)
    {
        var parsedLimit = DefaultLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out parsedLimit) || parsedLimit < 1 || parsedLimit > MaxLimit))
        {
            return (null, new FieldError("query.limit", $"limit must be an integer from 1 to {MaxLimit}", limit));
        }

        bool? deleted = null;
        if (includeDeleted is not null)
        {
            if (!bool.TryParse(includeDeleted, out var d))
            {
                return (null, new FieldError("query.include_deleted", "include_deleted must be true or false", includeDeleted));
            }

            deleted = d;
        }

        DateTime? since = null;
        if (!string.IsNullOrEmpty(updatedSince))
        {
            if (!DateTimeOffset.TryParseExact(updatedSince, ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
            {
                return (null, new FieldError("query.updated_since", "Invalid updated_since format: expected RFC3339 timestamp (e.g., 2025-08-07T13:15:04.280Z)", updatedSince));
            }

            if (deleted == false)
            {
                return (null, new FieldError("query.include_deleted", "Cannot set include_deleted=false when using updated_since (incremental sync requires deleted servers)", includeDeleted));
            }

            since = parsed.UtcDateTime;
            deleted = true;
        }

        return (new ServerListQuery(string.IsNullOrEmpty(cursor) ? null : cursor, parsedLimit, string.IsNullOrWhiteSpace(search) ? null : search.Trim(), since, string.IsNullOrEmpty(version) ? null : version, deleted ?? false), null);
    }

    public async Task<ServerPage> ListAsync(ServerListQuery query, CancellationToken ct)
    {
        var q = db.RegistryEntries.AsNoTracking();
        if (!query.IncludeDeleted)
        {
            q = q.Where(e => e.Status != ServerStatus.Deleted);
        }

        if (query.UpdatedSince is { } since)
        {
            q = q.Where(e => e.UpdatedAt > since);
        }

        if (query.Version == "latest")
        {
            q = q.Where(e => e.IsLatest);
        }
        else if (query.Version is { } exact)
        {
            q = q.Where(e => e.Version == exact);
        }

        if (query.Search is { } search)
        {
            var term = search.ToLowerInvariant();
            q = q.Where(e => e.ServerName.ToLower().Contains(term) || e.Description.ToLower().Contains(term));
        }

        if (query.Cursor is { } cursor)
        {
            // Cursor = "<name>:<version>" of the last item served; server names cannot contain ':'.
            var split = cursor.IndexOf(':');
            var name = split < 0 ? cursor : cursor[..split];
            if (split < 0)
            {
                q = q.Where(e => string.Compare(e.ServerName, name) > 0);
            }
            else
            {
                var version = cursor[(split + 1)..];
                q = q.Where(e => string.Compare(e.ServerName, name) > 0 || (e.ServerName == name && string.Compare(e.Version, version) > 0));
            }
        }

        var rows = await q.OrderBy(e => e.ServerName).ThenBy(e => e.Version).Take(query.Limit + 1).ToListAsync(ct);
        var more = rows.Count > query.Limit;
        if (more)
        {
            rows.RemoveAt(rows.Count - 1);
        }

        var next = more ? $"{rows[^1].ServerName}:{rows[^1].Version}" : null;
        return new ServerPage(rows, next, await MarketplaceInfoAsync(rows, ct));
    }

    public async Task<(List<RegistryEntry> Versions, IReadOnlyDictionary<string, MarketplaceInfo> Marketplace)> VersionsAsync(string serverName, bool includeDeleted, CancellationToken ct)
    {
        var q = db.RegistryEntries.AsNoTracking().Where(e => e.ServerName == serverName);
        if (!includeDeleted)
        {
            q = q.Where(e => e.Status != ServerStatus.Deleted);
        }

        var rows = await q.OrderByDescending(e => e.PublishedAt).ToListAsync(ct);
        return (rows, await MarketplaceInfoAsync(rows, ct));
    }

    public async Task<(RegistryEntry? Entry, MarketplaceInfo? Marketplace)> VersionAsync(string serverName, string version, bool includeDeleted, CancellationToken ct)
    {
        var q = db.RegistryEntries.AsNoTracking().Where(e => e.ServerName == serverName);
        if (!includeDeleted)
        {
            q = q.Where(e => e.Status != ServerStatus.Deleted);
        }

        q = version == "latest" ? q.Where(e => e.IsLatest) : q.Where(e => e.Version == version);
        var entry = await q.FirstOrDefaultAsync(ct);
        if (entry is null)
        {
            return (null, null);
        }

        var info = await MarketplaceInfoAsync([entry], ct);
        return (entry, info[entry.ServerName]);
    }

    public async Task<IReadOnlyDictionary<string, MarketplaceInfo>> MarketplaceInfoAsync(IReadOnlyCollection<RegistryEntry> entries, CancellationToken ct)
    {
        var names = entries.Select(e => e.ServerName).Distinct().ToList();
        var prices = await pricing.CurrentAsync(names, ct);
        var remote = entries.Where(e => e.HasRemote).Select(e => e.ServerName).ToHashSet();
        return names.ToDictionary(n => n, n => new MarketplaceInfo(
            prices.GetValueOrDefault(n) ?? new PricedPlan(Domain.Pricing.PricingPlan.Free, DateTime.MinValue, null),
            remote.Contains(n) ? GatewayUrl(n) : null));
    }

    public string GatewayUrl(string serverName) => $"{options.Value.PublicUrl.TrimEnd('/')}/mcp/{serverName}";
}
