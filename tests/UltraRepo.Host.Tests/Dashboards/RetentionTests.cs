using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Host.Tests.Dashboards;

public sealed class RetentionTestsOnSqlite() : RetentionTests(Provider.Sqlite);

public sealed class RetentionTestsOnPostgres() : RetentionTests(Provider.Postgres);

/// <summary>Raw events expire after the retention period; rollups (and so dashboards and billing) stay.</summary>
public abstract class RetentionTests(Provider provider)
{
    private static UsageEvent Event(DateTime at, long tokens) => new()
    {
        Timestamp = at,
        Period = at.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture),
        ConsumerId = Guid.Parse("11111111-1111-1111-1111-111111111111"),
        ServerName = "com.ultrarepo.alice/kept",
        InputTokens = tokens,
        TotalTokens = tokens,
        Outcome = UsageOutcome.Ok,
        Cost = tokens * 0.001m,
        Currency = "USD",
    };

    [Fact]
    public async Task OldRawEventsAreRemovedAndRollupsKept()
    {
        // Only the explicit run below: the scheduled one would race it for the same partitions.
        await using var app = new MarketplaceApp(provider, s =>
        {
            s["Usage:Retention:RawRetentionDays"] = "60";
            s["Usage:Retention:StartDelay"] = "01:00:00";
        });
        var store = app.Services.GetRequiredService<IUsageStore>();
        var now = app.Clock.GetUtcNow().UtcDateTime; // 2026-11-02
        await store.WriteAsync([Event(new DateTime(2026, 6, 10, 0, 0, 0, DateTimeKind.Utc), 100), Event(new DateTime(2026, 7, 20, 0, 0, 0, DateTimeKind.Utc), 200), Event(now.AddDays(-1), 300)], CancellationToken.None);

        var removed = await app.Services.GetRequiredService<UsageMaintenance>().RunOnceAsync(CancellationToken.None);

        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var remaining = await db.UsageEvents.AsNoTracking().Select(e => e.TotalTokens).ToListAsync();
        Assert.Equal(2, removed);
        Assert.Equal([300L], remaining);
        Assert.Equal(600, await db.UsageDaily.SumAsync(r => r.TotalTokens));
        Assert.Equal(600, await db.UsageHourly.SumAsync(r => r.TotalTokens));
        if (provider == Provider.Postgres)
        {
            var partitions = await db.Database.SqlQueryRaw<string>(
                "SELECT c.relname AS \"Value\" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_events'").ToListAsync();
            Assert.DoesNotContain("usage_events_y2026m06", partitions);
            Assert.Contains("usage_events_y2026m11", partitions);
            Assert.Contains("usage_events_y2027m01", partitions);
        }
    }
}
