using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Accounts;

namespace UltraRepo.Accounts;

/// <summary>Creates or promotes the operator's admin from <c>ULTRAREPO_ADMIN_EMAIL</c> / <c>ULTRAREPO_ADMIN_PASSWORD</c>.</summary>
public static class AdminBootstrap
{
    public static async Task<User?> EnsureAdminAsync(IServiceProvider services, IConfiguration configuration, CancellationToken ct)
    {
        var email = configuration["ULTRAREPO_ADMIN_EMAIL"];
        var password = configuration["ULTRAREPO_ADMIN_PASSWORD"];
        if (string.IsNullOrWhiteSpace(email) || string.IsNullOrEmpty(password))
        {
            return null;
        }

        var rule = AccountRules.CheckPassword(password);
        if (rule is not null)
        {
            throw new InvalidOperationException($"ULTRAREPO_ADMIN_PASSWORD is too weak: {rule}.");
        }

        return await EnsureUserAsync(services, AccountRules.NormalizeEmail(email), handle: null, password, isAdmin: true, ct);
    }

    /// <summary>Finds or creates a user; sets the password and admin flag as given.</summary>
    public static async Task<User> EnsureUserAsync(IServiceProvider services, string email, string? handle, string password, bool isAdmin, CancellationToken ct)
    {
        var db = services.GetRequiredService<MarketplaceDb>();
        var hasher = services.GetRequiredService<IPasswordHasher<User>>();
        var clock = services.GetRequiredService<TimeProvider>();
        var user = await db.Users.FirstOrDefaultAsync(u => u.Email == email, ct);
        if (user is null)
        {
            handle ??= await FreeHandleAsync(db, email, ct);
            user = new User { Email = email, Handle = handle, PasswordHash = "", IsAdmin = isAdmin, CreatedAt = clock.GetUtcNow().UtcDateTime };
            user.PasswordHash = hasher.HashPassword(user, password);
            db.Users.Add(user);
        }
        else
        {
            user.IsAdmin |= isAdmin;
            if (hasher.VerifyHashedPassword(user, user.PasswordHash, password) == PasswordVerificationResult.Failed)
            {
                user.PasswordHash = hasher.HashPassword(user, password);
            }
        }

        await db.SaveChangesAsync(ct);
        return user;
    }

    private static async Task<string> FreeHandleAsync(MarketplaceDb db, string email, CancellationToken ct)
    {
        var stem = new string(email.Split('@')[0].ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').ToArray()).Trim('-');
        stem = string.IsNullOrEmpty(stem) ? "admin" : stem[..Math.Min(stem.Length, 30)];
        var candidate = stem;
        for (var i = 2; await db.Users.AnyAsync(u => u.Handle == candidate, ct); i++)
        {
            candidate = $"{stem}-{i}";
        }

        return candidate;
    }
}
