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
    public void Configure(EntityTypeBuilder<UsageHourly> b) => UsageRollupConfiguration.Configure(b, "usage_hourly", secondaryIndexes: false);
}

internal sealed class UsageDailyConfiguration : IEntityTypeConfiguration<UsageDaily>
{
    // By consumer (consumer month, invoices) and by listing (publisher analytics).
    public void Configure(EntityTypeBuilder<UsageDaily> b) => UsageRollupConfiguration.Configure(b, "usage_daily", secondaryIndexes: true);
}

internal static class UsageRollupConfiguration
{
    public static void Configure<T>(EntityTypeBuilder<T> b, string table, bool secondaryIndexes) where T : UsageRollup
    {
        b.ToTable(table);
        b.HasKey(r => new { r.BucketStart, r.ConsumerId, r.ServerName, r.Currency });
        b.Property(r => r.ServerName).HasMaxLength(200);
        b.Property(r => r.Currency).HasMaxLength(3);
        if (secondaryIndexes)
        {
            b.HasIndex(r => new { r.ConsumerId, r.BucketStart });
            b.HasIndex(r => new { r.ServerName, r.BucketStart });
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
