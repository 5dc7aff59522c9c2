using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;

namespace UltraRepo.Pricing;

/// <summary>A price list as it applies from a moment on.</summary>
public sealed record PricedPlan(PricingPlan Plan, DateTime EffectiveFrom, Guid? VersionId);

/// <summary>Reads which price list applied to a server at a given moment. Servers without one are free.</summary>
public sealed class PricingCatalog(MarketplaceDb db, TimeProvider clock)
{
    public async Task<PricedPlan> CurrentAsync(string serverName, CancellationToken ct) =>
        await AtAsync(serverName, clock.GetUtcNow().UtcDateTime, ct);

    public async Task<PricedPlan> AtAsync(string serverName, DateTime instant, CancellationToken ct)
    {
        var version = await db.PricingVersions.AsNoTracking()
            .Where(p => p.ServerName == serverName && p.EffectiveFrom <= instant)
            .OrderByDescending(p => p.EffectiveFrom).ThenByDescending(p => p.CreatedAt)
            .FirstOrDefaultAsync(ct);
        return version is null ? new PricedPlan(PricingPlan.Free, DateTime.MinValue, null) : ToPriced(version);
    }

    /// <summary>Current price lists for a page of servers, in one query.</summary>
    public async Task<Dictionary<string, PricedPlan>> CurrentAsync(IReadOnlyCollection<string> serverNames, CancellationToken ct)
    {
        if (serverNames.Count == 0)
        {
            return [];
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var versions = await db.PricingVersions.AsNoTracking()
            .Where(p => serverNames.Contains(p.ServerName) && p.EffectiveFrom <= now)
            .ToListAsync(ct);
        return versions
            .GroupBy(v => v.ServerName)
            .ToDictionary(g => g.Key, g => ToPriced(g.OrderByDescending(v => v.EffectiveFrom).ThenByDescending(v => v.CreatedAt).First()));
    }

    /// <summary>Every version of a server's pricing, newest first (history, scheduled changes).</summary>
    public async Task<List<PricingVersion>> HistoryAsync(string serverName, CancellationToken ct) =>
        await db.PricingVersions.AsNoTracking()
            .Where(p => p.ServerName == serverName)
            .OrderByDescending(p => p.EffectiveFrom).ThenByDescending(p => p.CreatedAt)
            .ToListAsync(ct);

    public static PricedPlan ToPriced(PricingVersion version)
    {
        var document = JsonSerializer.Deserialize<PricingDocument>(version.Document, PricingDocuments.Json)!;
        var (plan, errors) = PricingDocuments.Parse(document);
        return plan is null
            ? throw new InvalidOperationException($"stored pricing {version.Id} no longer validates: {errors[0].Message}")
            : new PricedPlan(plan, version.EffectiveFrom, version.Id);
    }
}
