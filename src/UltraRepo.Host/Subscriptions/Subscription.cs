using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Subscriptions;

/// <summary>A consumer's subscription to a listing: what entitles metered use.</summary>
public sealed class Subscription
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid ConsumerId { get; init; }
    public required string ServerName { get; init; }
    public string Status { get; set; } = SubscriptionStatus.Active;
    public DateTime CreatedAt { get; init; }
    public DateTime? CancelledAt { get; set; }
}

public static class SubscriptionStatus
{
    public const string Active = "active";
    public const string Cancelled = "cancelled";
}

/// <summary>
/// The price list a subscription pays in one calendar month (UTC), fixed at the period's first use:
/// a price change during the month applies to existing subscribers from the next month.
/// </summary>
public sealed class SubscriptionPeriod
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid SubscriptionId { get; init; }
    /// <summary>"yyyy-MM".</summary>
    public required string Period { get; init; }
    public Guid? PricingVersionId { get; init; }
    /// <summary>The price list document in force, copied so later edits cannot change it.</summary>
    public required string Pricing { get; init; }
    public DateTime CreatedAt { get; init; }
}

internal sealed class SubscriptionConfiguration : IEntityTypeConfiguration<Subscription>
{
    public void Configure(EntityTypeBuilder<Subscription> b)
    {
        b.Property(s => s.ServerName).HasMaxLength(200);
        b.Property(s => s.Status).HasMaxLength(16);
        b.HasIndex(s => new { s.ConsumerId, s.ServerName });
        // One active subscription per consumer and listing.
        b.HasIndex(s => new { s.ConsumerId, s.ServerName }).IsUnique().HasFilter("status = 'active'").HasDatabaseName("ix_subscriptions_active");
        b.HasIndex(s => s.ServerName);
    }
}

internal sealed class SubscriptionPeriodConfiguration : IEntityTypeConfiguration<SubscriptionPeriod>
{
    public void Configure(EntityTypeBuilder<SubscriptionPeriod> b)
    {
        b.Property(p => p.Period).HasMaxLength(7);
        b.HasIndex(p => new { p.SubscriptionId, p.Period }).IsUnique();
        b.HasOne<Subscription>().WithMany().HasForeignKey(p => p.SubscriptionId).OnDelete(DeleteBehavior.Cascade);
    }
}
