using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Pricing;
using UltraRepo.Domain.Registry;
using UltraRepo.Http;
using UltraRepo.Registry;

namespace UltraRepo.Catalog;

/// <summary>
/// The marketplace's own search (<c>GET /api/catalog</c>): ranked full text over the latest version of
/// every listed server, with filters and sorts. The <c>/v0.1</c> routes keep the official semantics.
/// </summary>
public static class CatalogApi
{
    public static IEndpointRouteBuilder MapCatalogApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/catalog", Search).WithTags("Catalog").CacheOutput(RegistryCache.Policy);
        return app;
    }

    public sealed record CatalogItem(
        string Name, string? Title, string Description, string Version, string Status, bool IsRemote, bool IsPackage,
        IReadOnlyList<string> RegistryTypes, PricingDocument Pricing, string? GatewayUrl, DateTime PublishedAt, double? Score);

    public sealed record CatalogPage(IReadOnlyList<CatalogItem> Items, string? NextCursor, int Count);

    private static readonly string[] PricingModels = ["free", "license", "usage", "hybrid"];
    private static readonly string[] Kinds = ["remote", "package"];
    private static readonly string[] Sorts = ["relevance", "name", "recent"];

    private static async Task<Results<Ok<CatalogPage>, ProblemHttpResult>> Search(
        MarketplaceDb db, RegistryQueries queries, TimeProvider clock, CancellationToken ct,
        [FromQuery] string? q = null, [FromQuery] string? pricing = null, [FromQuery] string? kind = null,
        [FromQuery] string? registryType = null, [FromQuery] string? sort = null, [FromQuery] string? cursor = null, [FromQuery] string? limit = null)
    {
        var errors = new List<FieldError>();
        if (pricing is not null && !PricingModels.Contains(pricing))
        {
            errors.Add(new("query.pricing", "pricing must be one of \"free, license, usage, hybrid\"", pricing));
        }

        if (kind is not null && !Kinds.Contains(kind))
        {
            errors.Add(new("query.kind", "kind must be one of \"remote, package\"", kind));
        }

        if (sort is not null && !Sorts.Contains(sort))
        {
            errors.Add(new("query.sort", "sort must be one of \"relevance, name, recent\"", sort));
        }

        var take = 30;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out take) || take is < 1 or > 100))
        {
            errors.Add(new("query.limit", "limit must be an integer from 1 to 100", limit));
        }

        var offset = 0;
        if (cursor is not null && !TryDecodeCursor(cursor, out offset))
        {
            errors.Add(new("query.cursor", "cursor is not one this API returned", cursor));
        }

        var hits = string.IsNullOrWhiteSpace(q) ? null : CatalogSearch.Hits(db, q);
        if (!string.IsNullOrWhiteSpace(q) && hits is null)
        {
            errors.Add(new("query.q", "search text must contain letters or digits", q));
        }

        if (sort == "relevance" && hits is null && errors.Count == 0)
        {
            errors.Add(new("query.sort", "sort=relevance needs a search text q"));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var latest = db.RegistryEntries.AsNoTracking().Where(e => e.IsLatest && e.Status != ServerStatus.Deleted);
        // Rank and page over narrow rows first; the documents are loaded for the page only.
        var rows = hits is null
            ? latest.Select(e => new Row { Id = e.Id, ServerName = e.ServerName, PublishedAt = e.PublishedAt, HasRemote = e.HasRemote, HasPackage = e.HasPackage, RegistryTypes = e.RegistryTypes })
            : latest.Join(hits, e => e.Id, h => h.EntryId, (e, h) => new Row { Id = e.Id, ServerName = e.ServerName, PublishedAt = e.PublishedAt, HasRemote = e.HasRemote, HasPackage = e.HasPackage, RegistryTypes = e.RegistryTypes, Score = h.Score });

        if (pricing is not null)
        {
            var priced = db.PricingVersions.Where(p => p.EffectiveFrom <= now);
            rows = rows.Where(r => (priced
                .Where(p => p.ServerName == r.ServerName)
                .OrderByDescending(p => p.EffectiveFrom).ThenByDescending(p => p.CreatedAt)
                .Select(p => p.Model)
                .FirstOrDefault() ?? "free") == pricing);
        }

        if (kind == "remote")
        {
            rows = rows.Where(r => r.HasRemote);
        }
        else if (kind == "package")
        {
            rows = rows.Where(r => r.HasPackage);
        }

        if (!string.IsNullOrWhiteSpace(registryType))
        {
            var padded = " " + registryType.Trim().ToLowerInvariant() + " ";
            rows = rows.Where(r => r.RegistryTypes.Contains(padded));
        }

        rows = (sort ?? (hits is null ? "name" : "relevance")) switch
        {
            "relevance" => rows.OrderByDescending(r => r.Score).ThenBy(r => r.ServerName),
            "recent" => rows.OrderByDescending(r => r.PublishedAt).ThenBy(r => r.ServerName),
            _ => rows.OrderBy(r => r.ServerName),
        };

        var page = await rows.Skip(offset).Take(take + 1).Select(r => new { r.Id, r.Score }).ToListAsync(ct);
        var more = page.Count > take;
        page = page.Take(take).ToList();
        var ids = page.Select(p => p.Id).ToList();
        var entries = (await db.RegistryEntries.AsNoTracking().Where(e => ids.Contains(e.Id)).ToListAsync(ct)).ToDictionary(e => e.Id);
        var marketplace = await queries.MarketplaceInfoAsync(entries.Values, ct);
        var items = page.Select(p => ToItem(entries[p.Id], p.Score, marketplace[entries[p.Id].ServerName])).ToList();
        return TypedResults.Ok(new CatalogPage(items, more ? EncodeCursor(offset + take) : null, items.Count));
    }

    private sealed class Row
    {
        public Guid Id { get; init; }
        public required string ServerName { get; init; }
        public DateTime PublishedAt { get; init; }
        public bool HasRemote { get; init; }
        public bool HasPackage { get; init; }
        public required string RegistryTypes { get; init; }
        public double? Score { get; init; }
    }

    private static CatalogItem ToItem(RegistryEntry e, double? score, MarketplaceInfo info)
    {
        return new CatalogItem(
            e.ServerName, e.Title, e.Description, e.Version, e.Status, e.HasRemote, e.HasPackage,
            e.RegistryTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            PricingDocuments.ToDocument(info.Pricing?.Plan ?? PricingPlan.Free), info.GatewayUrl, e.PublishedAt, score);
    }

    private static string EncodeCursor(int offset) =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new { o = offset })).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecodeCursor(string cursor, out int offset)
    {
        offset = 0;
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            using var doc = JsonDocument.Parse(Convert.FromBase64String(padded));
            offset = doc.RootElement.GetProperty("o").GetInt32();
            return offset >= 0;
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }
}
