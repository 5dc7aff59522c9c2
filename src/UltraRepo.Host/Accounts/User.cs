using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Accounts;

public sealed class User
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public required string Email { get; set; }
    /// <summary>Lower-case; also names the user's own namespace <c>com.ultrarepo.&lt;handle&gt;</c>.</summary>
    public required string Handle { get; init; }
    public required string PasswordHash { get; set; }
    public bool IsAdmin { get; set; }
    public DateTime CreatedAt { get; init; }

    public string OwnNamespace => $"com.ultrarepo.{Handle}";
}

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> b)
    {
        b.Property(u => u.Email).HasMaxLength(254);
        b.Property(u => u.Handle).HasMaxLength(39);
        b.HasIndex(u => u.Email).IsUnique();
        b.HasIndex(u => u.Handle).IsUnique();
    }
}
