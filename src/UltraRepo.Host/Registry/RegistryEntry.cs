using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using UltraRepo.Data;

namespace UltraRepo.Registry;

/// <summary>
/// One published version of a server: the server.json as stored (immutable) plus the
/// registry-managed metadata the official API returns under <c>io.modelcontextprotocol.registry/official</c>.
/// </summary>
public sealed class RegistryEntry
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public required string ServerName { get; init; }
    public required string Version { get; init; }
    public required string Namespace { get; init; }
    public string? Title { get; set; }
    public required string Description { get; set; }
    /// <summary>The normalized server.json, exactly as served. Published versions are immutable; imported ones mirror their upstream.</summary>
    public required string ServerJson { get; set; }
    public string Status { get; set; } = ServerStatus.Active;
    public string? StatusMessage { get; set; }
    public DateTime StatusChangedAt { get; set; }
    public DateTime PublishedAt { get; init; }
    public DateTime UpdatedAt { get; set; }
    public bool IsLatest { get; set; }
    public Guid? PublisherId { get; init; }
    public required string Origin { get; init; }
    public bool HasRemote { get; init; }
    public bool HasPackage { get; init; }
    /// <summary>Space-delimited package registry types, e.g. " npm pypi ", for filtering.</summary>
    public string RegistryTypes { get; init; } = " ";
}

public static class ServerStatus
{
    public const string Active = "active";
    public const string Deprecated = "deprecated";
    public const string Deleted = "deleted";

    public static bool IsValid(string? status) => status is Active or Deprecated or Deleted;
}

public static class EntryOrigin
{
    public const string Published = "published";
    public const string Imported = "imported";
}

internal sealed class RegistryEntryConfiguration : IEntityTypeConfiguration<RegistryEntry>
{
    public void Configure(EntityTypeBuilder<RegistryEntry> b)
    {
        b.Property(e => e.ServerName).HasMaxLength(200);
        b.Property(e => e.Version).HasMaxLength(255);
        b.Property(e => e.Namespace).HasMaxLength(200);
        b.Property(e => e.Title).HasMaxLength(100);
        b.Property(e => e.Description).HasMaxLength(400);
        b.Property(e => e.Status).HasMaxLength(16);
        b.Property(e => e.StatusMessage).HasMaxLength(500);
        b.Property(e => e.Origin).HasMaxLength(16);
        b.Property(e => e.RegistryTypes).HasMaxLength(200);
        b.HasIndex(e => new { e.ServerName, e.Version }).IsUnique();
        // At most one latest version per server.
        b.HasIndex(e => e.ServerName).IsUnique().HasFilter("is_latest").HasDatabaseName("ix_registry_entries_latest");
        b.HasIndex(e => e.UpdatedAt);
        b.HasIndex(e => e.PublishedAt);
    }

    /// <summary>PostgreSQL: byte-order collation so cursors order exactly as on SQLite, and a weighted full-text vector.</summary>
    public static void ConfigurePostgresSearch(ModelBuilder modelBuilder)
    {
        var b = modelBuilder.Entity<RegistryEntry>();
        b.Property(e => e.ServerName).UseCollation("C");
        b.Property(e => e.Version).UseCollation("C");
        b.Property<NpgsqlTypes.NpgsqlTsVector>("SearchVector")
            .HasComputedColumnSql(
                "setweight(to_tsvector('simple', regexp_replace(server_name, '[./_-]', ' ', 'g')), 'A') || " +
                "setweight(to_tsvector('english', coalesce(title, '')), 'A') || " +
                "setweight(to_tsvector('english', description), 'B')",
                stored: true);
        b.HasIndex("SearchVector").HasMethod("GIN");
    }
}
