using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Budgets;

/// <summary>
/// A consumer's monthly cap, in money (in one currency) or in tokens, over all listings or one.
/// Alerts fire once per period at each threshold; at 100% requests stop unless the mode is alert-only.
/// </summary>
public sealed class Budget
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid ConsumerId { get; init; }
    /// <summary>Null for a global budget.</summary>
    public string? ServerName { get; init; }
    public decimal? AmountLimit { get; init; }
    public string? Currency { get; init; }
    public long? TokenLimit { get; init; }
    /// <summary>Comma-separated percentages, e.g. "50,80,100".</summary>
    public required string AlertThresholds { get; init; }
    public bool AlertOnly { get; init; }
    public DateTime CreatedAt { get; init; }

    public IReadOnlyList<int> Thresholds => AlertThresholds.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    public Metering.BudgetLimit ToLimit() => new(Id, ServerName, TokenLimit, AmountLimit, Currency, AlertOnly, Thresholds);
}

/// <summary>A message for a user, e.g. a budget alert.</summary>
public sealed class Notification
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid UserId { get; init; }
    public required string Kind { get; init; }
    public required string Message { get; init; }
    /// <summary>Makes a notification unique, e.g. a budget alert's "budget:{consumer}:2026-11:80:{what the budget caps}".</summary>
    public required string DedupKey { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? ReadAt { get; set; }
}

internal sealed class BudgetConfiguration : IEntityTypeConfiguration<Budget>
{
    public void Configure(EntityTypeBuilder<Budget> b)
    {
        b.Property(x => x.ServerName).HasMaxLength(200);
        b.Property(x => x.Currency).HasMaxLength(3);
        b.Property(x => x.AlertThresholds).HasMaxLength(64);
        b.HasIndex(x => x.ConsumerId);
    }
}

internal sealed class NotificationConfiguration : IEntityTypeConfiguration<Notification>
{
    public void Configure(EntityTypeBuilder<Notification> b)
    {
        b.Property(x => x.Kind).HasMaxLength(32);
        b.Property(x => x.Message).HasMaxLength(1000);
        b.Property(x => x.DedupKey).HasMaxLength(200);
        b.HasIndex(x => new { x.UserId, x.CreatedAt });
        b.HasIndex(x => x.DedupKey).IsUnique();
    }
}
