using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Pricing;

/// <summary>
/// A price list for a server, in force from <see cref="EffectiveFrom"/> until the next version's.
/// Versions are never edited, so usage is always rated at the price that applied when it happened.
/// </summary>
public sealed class PricingVersion
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public required string ServerName { get; init; }
    public DateTime EffectiveFrom { get; init; }
    public required string Model { get; init; }
    public required string Currency { get; init; }
    /// <summary>The validated price list as a <see cref="Domain.Pricing.PricingDocument"/> JSON.</summary>
    public required string Document { get; init; }
    public DateTime CreatedAt { get; init; }
    public Guid CreatedBy { get; init; }
}

internal sealed class PricingVersionConfiguration : IEntityTypeConfiguration<PricingVersion>
{
    public void Configure(EntityTypeBuilder<PricingVersion> b)
    {
        b.Property(p => p.ServerName).HasMaxLength(200);
        b.Property(p => p.Model).HasMaxLength(16);
        b.Property(p => p.Currency).HasMaxLength(3);
        b.HasIndex(p => new { p.ServerName, p.EffectiveFrom });
    }
}
