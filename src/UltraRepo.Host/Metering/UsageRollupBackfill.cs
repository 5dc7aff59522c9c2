using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Metering;

/// <summary>
/// Fills the per-listing daily rollup and the consumer-days bitmaps from the daily rollup once, for an
/// embedded (SQLite) database that had usage before they existed. SQLite keeps costs as decimal text, so
/// the sums are made here in .NET decimals by the rule the stores use for each batch
/// (<see cref="UsageRollupDeltas.PerListing"/>; PostgreSQL's migration does the same in SQL). The embedded
/// database has one host, which runs this after migrating and before serving, in one transaction.
/// </summary>
public static class UsageRollupBackfill
{
    public static async Task<bool> RunAsync(MarketplaceDb db, CancellationToken ct)
    {
        if (await db.UsageListingDaily.AnyAsync(ct) || await db.UsageConsumerDays.AnyAsync(ct) || !await db.UsageDaily.AnyAsync(ct))
        {
            return false;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        var daily = await db.UsageDaily.AsNoTracking().ToListAsync(ct);
        var (listing, consumerDays) = UsageRollupDeltas.PerListing(daily.Select(r => new UsageRollupDeltas.Row(
            DateTime.SpecifyKind(r.BucketStart, DateTimeKind.Utc), r.ConsumerId, r.ServerName, r.Currency,
            new UsageBuckets.Totals { TotalTokens = r.TotalTokens, BillableTokens = r.BillableTokens, Cost = r.Cost, Requests = r.Requests, Errors = r.Errors })));
        db.UsageListingDaily.AddRange(listing.Select(l => new UsageListingDaily
        {
            ServerName = l.ServerName, BucketStart = l.Day, Currency = l.Currency, TotalTokens = l.Totals.TotalTokens,
            BillableTokens = l.Totals.BillableTokens, Cost = l.Totals.Cost, Requests = l.Totals.Requests, Errors = l.Totals.Errors,
        }));
        db.UsageConsumerDays.AddRange(consumerDays.Select(d => new UsageConsumerDays { ServerName = d.ServerName, Month = d.Month, ConsumerId = d.ConsumerId, Days = d.Days }));
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return true;
    }
}
