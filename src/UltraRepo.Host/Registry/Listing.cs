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
    /// <summary>Bumped when the gateway's view of the listing changes (tokenizer, credentials).</summary>
    public DateTime UpdatedAt { get; set; }
    /// <summary>Tokenizer used to meter this listing's traffic: o200k_base (default) or cl100k_base.</summary>
    public string Tokenizer { get; set; } = "o200k_base";
    /// <summary>Header the gateway adds to upstream requests, e.g. "Authorization" or "X-Api-Key".</summary>
    public string? UpstreamHeaderName { get; set; }
    /// <summary>The header's value, encrypted (AES-256-GCM, see <c>SecretBox</c>); never returned by any API.</summary>
    public byte[]? UpstreamHeaderSecret { get; set; }
}

internal sealed class ListingConfiguration : IEntityTypeConfiguration<Listing>
{
    public void Configure(EntityTypeBuilder<Listing> b)
    {
        b.HasKey(l => l.ServerName);
        b.Property(l => l.ServerName).HasMaxLength(200);
        b.HasIndex(l => l.OwnerId);
        b.Property(l => l.Tokenizer).HasMaxLength(32);
        b.Property(l => l.UpstreamHeaderName).HasMaxLength(100);
    }
}
