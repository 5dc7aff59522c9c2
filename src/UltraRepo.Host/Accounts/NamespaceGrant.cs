using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Accounts;

/// <summary>An admin's grant letting a user publish under a namespace other than their own (e.g. <c>io.github.alice</c>).</summary>
public sealed class NamespaceGrant
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid UserId { get; init; }
    public required string Namespace { get; init; }
    public Guid GrantedBy { get; init; }
    public DateTime CreatedAt { get; init; }
}

internal sealed class NamespaceGrantConfiguration : IEntityTypeConfiguration<NamespaceGrant>
{
    public void Configure(EntityTypeBuilder<NamespaceGrant> b)
    {
        b.Property(g => g.Namespace).HasMaxLength(200);
        b.HasIndex(g => new { g.UserId, g.Namespace }).IsUnique();
        b.HasIndex(g => g.Namespace);
        b.HasOne<User>().WithMany().HasForeignKey(g => g.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
