using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Registry;

/// <summary>The marketplace's data about a server across its versions: who owns it and how the gateway treats it.</summary>
public sealed class Listing
{
    public required string ServerName { get; init; }
    /// <summary>The publisher; null for listings imported from an upstream registry (admin-managed).</summary>
    public Guid? OwnerId { get; set; }
    public DateTime CreatedAt { get; init; }
}

internal sealed class ListingConfiguration : IEntityTypeConfiguration<Listing>
{
    public void Configure(EntityTypeBuilder<Listing> b)
    {
        b.HasKey(l => l.ServerName);
        b.Property(l => l.ServerName).HasMaxLength(200);
        b.HasIndex(l => l.OwnerId);
    }
}
