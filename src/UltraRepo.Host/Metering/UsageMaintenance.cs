using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Metering;

public sealed class UsageRetentionOptions
{
    /// <summary>Raw usage events older than this are deleted; hourly and daily rollups are kept for good.</summary>
    public int RawRetentionDays { get; set; } = 400;

    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Wait before the first run after start (none by default: partitions are checked at once).</summary>
    public TimeSpan StartDelay { get; set; } = TimeSpan.Zero;
}

/// <summary>
/// Housekeeping for raw usage events: creates the coming months' partitions ahead of time (PostgreSQL)
/// and applies the retention policy — whole monthly partitions are dropped once they end before the
/// cutoff (PostgreSQL); embedded SQLite deletes in batches.
/// </summary>
public sealed class UsageMaintenance(IServiceScopeFactory scopes, IUsageStore store, IOptions<UsageRetentionOptions> options, TimeProvider clock, ILogger<UsageMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.StartDelay > TimeSpan.Zero)
        {
            await Task.Delay(options.Value.StartDelay, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Usage maintenance failed; retrying at the next interval");
            }

            await Task.Delay(options.Value.Interval, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <returns>How many raw events were removed.</returns>
    public async Task<long> RunOnceAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var cutoff = now.AddDays(-options.Value.RawRetentionDays);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        if (store is PostgresUsageStore postgres)
        {
            await postgres.EnsurePartitionsAsync([now, now.AddMonths(1), now.AddMonths(2)], ct);
            return await DropOldPartitionsAsync(db, cutoff, ct);
        }

        long removed = 0;
        int batch;
        do
        {
            batch = await db.UsageEvents.Where(e => e.Timestamp < cutoff).OrderBy(e => e.Timestamp).Take(10_000).ExecuteDeleteAsync(ct);
            removed += batch;
        }
        while (batch == 10_000);

        return removed;
    }

    private static async Task<long> DropOldPartitionsAsync(MarketplaceDb db, DateTime cutoff, CancellationToken ct)
    {
        var partitions = await db.Database.SqlQueryRaw<string>(
            "SELECT c.relname AS \"Value\" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_events'")
            .ToListAsync(ct);
        long removed = 0;
        foreach (var name in partitions.Where(n => n.StartsWith("usage_events_y", StringComparison.Ordinal)))
        {
            if (!DateTime.TryParseExact(name["usage_events_y".Length..], "yyyy'm'MM", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var month)
                || month.AddMonths(1) > cutoff)
            {
                continue;
            }

            // The name is rebuilt from the parsed month, never taken verbatim from the catalog.
            var table = PostgresUsageStore.Name(month);
            var count = "SELECT count(*) AS \"Value\" FROM " + table;
            var drop = "DROP TABLE " + table;
            try
            {
                var rows = await db.Database.SqlQueryRaw<long>(count).SingleAsync(ct);
                await db.Database.ExecuteSqlRawAsync(drop, ct);
                removed += rows;
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UndefinedTable)
            {
                // Another node's (or this node's scheduled) maintenance dropped it meanwhile.
            }
        }

        return removed;
    }
}
