using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Metering;

/// <summary>
/// Usage summed per hour (or day) × consumer × listing × currency, maintained as events land so
/// dashboards never scan raw events. Every recorded event is counted; only billable ones (ok and
/// rpc_error) add to <see cref="BillableTokens"/>, and only they have a cost.
/// </summary>
public abstract class UsageRollup
{
    public DateTime BucketStart { get; init; }
    public Guid ConsumerId { get; init; }
    public required string ServerName { get; init; }
    public required string Currency { get; init; }
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }
    public long TotalTokens { get; set; }
    public long BillableTokens { get; set; }
    public decimal Cost { get; set; }
    public long Requests { get; set; }
    public long Errors { get; set; }
}

public sealed class UsageHourly : UsageRollup;

public sealed class UsageDaily : UsageRollup;

/// <summary>
/// Usage per listing × day × currency (all consumers together): a publisher's daily tokens and revenue
/// read a few rows per listing and day instead of one per consumer.
/// </summary>
public sealed class UsageListingDaily
{
    public DateTime BucketStart { get; init; }
    public required string ServerName { get; init; }
    public required string Currency { get; init; }
    public long TotalTokens { get; set; }
    public long BillableTokens { get; set; }
    public decimal Cost { get; set; }
    public long Requests { get; set; }
    public long Errors { get; set; }
}

/// <summary>
/// The days of a month (UTC) on which a consumer used a listing: bit <c>d - 1</c> of <see cref="Days"/> is
/// day <c>d</c>. Exact distinct-consumer counts per day and over any range read one row per consumer and
/// month, not one per consumer and day.
/// </summary>
public sealed class UsageConsumerDays
{
    public required string ServerName { get; init; }
    public DateTime Month { get; init; }
    public Guid ConsumerId { get; init; }
    public int Days { get; set; }

    public static int Bit(DateTime instant) => 1 << (instant.Day - 1);

    public static DateTime MonthOf(DateTime instant) => new(instant.Year, instant.Month, 1, 0, 0, 0, DateTimeKind.Utc);
}

/// <summary>A publisher's Lago transaction id, remembered so a retried event is accepted once.</summary>
public sealed class IngestKey
{
    public Guid PublisherId { get; init; }
    public required string TransactionId { get; init; }
    public Guid EventId { get; init; }
    public DateTime EventTimestamp { get; init; }
    public DateTime CreatedAt { get; init; }
}

internal sealed class UsageHourlyConfiguration : IEntityTypeConfiguration<UsageHourly>
{
    // Read only by time range (the operator overview's last hour: the key's prefix), so no secondary indexes:
    // each would cost an index insertion per new row on the write path.
    public void Configure(EntityTypeBuilder<UsageHourly> b) => UsageRollupConfiguration.Configure(b, "usage_hourly", consumerIndex: false);
}

internal sealed class UsageDailyConfiguration : IEntityTypeConfiguration<UsageDaily>
{
    // Also by consumer (consumer month, invoices); publisher analytics read the per-listing rollups instead.
    public void Configure(EntityTypeBuilder<UsageDaily> b) => UsageRollupConfiguration.Configure(b, "usage_daily", consumerIndex: true);
}

internal sealed class UsageListingDailyConfiguration : IEntityTypeConfiguration<UsageListingDaily>
{
    public void Configure(EntityTypeBuilder<UsageListingDaily> b)
    {
        b.ToTable("usage_listing_daily");
        b.HasKey(r => new { r.ServerName, r.BucketStart, r.Currency });
        b.Property(r => r.ServerName).HasMaxLength(200);
        b.Property(r => r.Currency).HasMaxLength(3);
    }
}

internal sealed class UsageConsumerDaysConfiguration : IEntityTypeConfiguration<UsageConsumerDays>
{
    public void Configure(EntityTypeBuilder<UsageConsumerDays> b)
    {
        b.ToTable("usage_consumer_days");
        b.HasKey(r => new { r.ServerName, r.Month, r.ConsumerId });
        b.Property(r => r.ServerName).HasMaxLength(200);
    }
}

internal static class UsageRollupConfiguration
{
    public static void Configure<T>(EntityTypeBuilder<T> b, string table, bool consumerIndex) where T : UsageRollup
    {
        b.ToTable(table);
        b.HasKey(r => new { r.BucketStart, r.ConsumerId, r.ServerName, r.Currency });
        b.Property(r => r.ServerName).HasMaxLength(200);
        b.Property(r => r.Currency).HasMaxLength(3);
        if (consumerIndex)
        {
            b.HasIndex(r => new { r.ConsumerId, r.BucketStart });
        }
    }
}

internal sealed class IngestKeyConfiguration : IEntityTypeConfiguration<IngestKey>
{
    public void Configure(EntityTypeBuilder<IngestKey> b)
    {
        b.HasKey(k => new { k.PublisherId, k.TransactionId });
        b.Property(k => k.TransactionId).HasMaxLength(200);
    }
}
