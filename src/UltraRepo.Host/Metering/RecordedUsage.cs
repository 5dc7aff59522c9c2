using System.Globalization;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;

namespace UltraRepo.Metering;

/// <summary>Month-to-date usage from the daily rollups, to start counters after a restart.</summary>
public sealed class DatabaseRecordedUsage(IServiceScopeFactory scopes) : IRecordedUsage
{
    public async Task<IReadOnlyList<RecordedUsage>> ForConsumerAsync(Guid consumerId, string period, CancellationToken ct)
    {
        var start = DateTime.SpecifyKind(DateTime.ParseExact(period, "yyyy-MM", CultureInfo.InvariantCulture), DateTimeKind.Utc);
        var end = start.AddMonths(1);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var rows = await db.UsageDaily.AsNoTracking()
            .Where(r => r.ConsumerId == consumerId && r.BucketStart >= start && r.BucketStart < end)
            .Select(r => new { r.ServerName, r.Currency, r.BillableTokens, r.Cost })
            .ToListAsync(ct);
        return rows.GroupBy(r => (r.ServerName, r.Currency))
            .Select(g => new RecordedUsage(g.Key.ServerName, g.Key.Currency, g.Sum(r => r.BillableTokens), g.Sum(r => r.Cost)))
            .ToList();
    }
}
