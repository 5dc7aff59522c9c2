using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;

namespace UltraRepo.Metering;

/// <summary>
/// Fills the per-listing daily rollup and the consumer-days bitmaps from the daily rollup once, for an
/// embedded (SQLite) database that had usage before they existed. SQLite keeps costs as decimal text, so
/// the sums are made here in .NET decimals (PostgreSQL's migration does the same in SQL). The embedded
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
        var listing = new Dictionary<(string Server, DateTime Day, string Currency), UsageListingDaily>();
        var consumerDays = new Dictionary<(string Server, DateTime Month, Guid Consumer), UsageConsumerDays>();
        await foreach (var r in db.UsageDaily.AsNoTracking().AsAsyncEnumerable().WithCancellation(ct))
        {
            var day = DateTime.SpecifyKind(r.BucketStart, DateTimeKind.Utc);
            if (!listing.TryGetValue((r.ServerName, day, r.Currency), out var sum))
            {
                sum = listing[(r.ServerName, day, r.Currency)] = new UsageListingDaily { ServerName = r.ServerName, BucketStart = day, Currency = r.Currency };
            }

            sum.TotalTokens += r.TotalTokens;
            sum.BillableTokens += r.BillableTokens;
            sum.Cost += r.Cost;
            sum.Requests += r.Requests;
            sum.Errors += r.Errors;

            var month = UsageConsumerDays.MonthOf(day);
            if (!consumerDays.TryGetValue((r.ServerName, month, r.ConsumerId), out var used))
            {
                used = consumerDays[(r.ServerName, month, r.ConsumerId)] = new UsageConsumerDays { ServerName = r.ServerName, Month = month, ConsumerId = r.ConsumerId };
            }

            used.Days |= UsageConsumerDays.Bit(day);
        }

        db.UsageListingDaily.AddRange(listing.Values);
        db.UsageConsumerDays.AddRange(consumerDays.Values);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return true;
    }
}
