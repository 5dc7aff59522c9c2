using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using UltraRepo.Data;
using UltraRepo.Gateway;
using UltraRepo.Subscriptions;

namespace UltraRepo.Billing;

public static class LicenseStatus
{
    public const string Pending = "pending";
    public const string Active = "active";
    public const string Revoked = "revoked";
}

/// <summary>A one-time purchase of a listing. Its key is signed (Ed25519) so publishers can verify it offline.</summary>
public sealed class License
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid ConsumerId { get; init; }
    public required string ServerName { get; init; }
    public Guid? PublisherId { get; init; }
    public decimal Price { get; init; }
    public required string Currency { get; init; }
    public string Status { get; set; } = LicenseStatus.Pending;
    public string? Key { get; set; }
    public required string Provider { get; init; }
    public bool Sandbox { get; init; }
    public string? CheckoutReference { get; set; }
    public string? PaymentReference { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? ActivatedAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    /// <summary>"yyyy-MM" of activation: the invoice it appears on.</summary>
    public string? Period { get; set; }
}

/// <summary>The marketplace's license signing key: the private half encrypted with the master key.</summary>
public sealed class SigningKey
{
    public required string KeyId { get; init; }
    public required byte[] PublicKey { get; init; }
    public required byte[] SealedPrivateKey { get; init; }
    public DateTime CreatedAt { get; init; }
}

internal sealed class LicenseConfiguration : IEntityTypeConfiguration<License>, IEntityTypeConfiguration<SigningKey>
{
    public void Configure(EntityTypeBuilder<License> b)
    {
        b.Property(l => l.ServerName).HasMaxLength(200);
        b.Property(l => l.Currency).HasMaxLength(3);
        b.Property(l => l.Status).HasMaxLength(16);
        b.Property(l => l.Key).HasMaxLength(1024);
        b.Property(l => l.Provider).HasMaxLength(16);
        b.Property(l => l.CheckoutReference).HasMaxLength(200);
        b.Property(l => l.PaymentReference).HasMaxLength(200);
        b.Property(l => l.Period).HasMaxLength(7);
        b.HasIndex(l => new { l.ConsumerId, l.ServerName });
        b.HasIndex(l => l.CheckoutReference);
        b.HasIndex(l => new { l.Period, l.Status });
    }

    public void Configure(EntityTypeBuilder<SigningKey> b)
    {
        b.HasKey(k => k.KeyId);
        b.Property(k => k.KeyId).HasMaxLength(32);
    }
}

/// <summary>What a license key says, once its signature checks out.</summary>
public sealed record LicenseClaims(Guid LicenseId, string ServerName, Guid ConsumerId, DateTime IssuedAt, string KeyId);

/// <summary>
/// Issues and verifies license keys: <c>ulk_&lt;payload&gt;.&lt;signature&gt;</c>, both base64url, the payload
/// JSON <c>{v, lid, srv, sub, iat, kid}</c> signed with Ed25519. The public key is published at
/// <c>/.well-known/ultrarepo/license-keys.json</c> (JWK, OKP/Ed25519), so a publisher's server can check a key
/// without calling the marketplace; revocation is checked online (<c>POST /api/licenses/validate</c>).
/// </summary>
public sealed class LicenseSigner(IServiceScopeFactory scopes, SecretBox secrets, TimeProvider clock)
{
    private const string Prefix = "ulk_";
    private readonly SemaphoreSlim _load = new(1, 1);
    private (SigningKey Key, Ed25519PrivateKeyParameters Private)? _current;

    public async Task<string> IssueAsync(License license, CancellationToken ct)
    {
        var (key, privateKey) = await CurrentAsync(ct);
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["v"] = 1,
            ["lid"] = license.Id,
            ["srv"] = license.ServerName,
            ["sub"] = license.ConsumerId,
            ["iat"] = clock.GetUtcNow().ToUnixTimeSeconds(),
            ["kid"] = key.KeyId,
        });
        var signer = new Ed25519Signer();
        signer.Init(true, privateKey);
        signer.BlockUpdate(payload, 0, payload.Length);
        return Prefix + Base64Url(payload) + "." + Base64Url(signer.GenerateSignature());
    }

    /// <summary>Checks the signature against the published keys; null when the key is not genuine.</summary>
    public async Task<LicenseClaims?> VerifyAsync(string? licenseKey, CancellationToken ct)
    {
        if (licenseKey is null || !licenseKey.StartsWith(Prefix, StringComparison.Ordinal) || licenseKey.Length > 2048)
        {
            return null;
        }

        var parts = licenseKey[Prefix.Length..].Split('.');
        if (parts.Length != 2 || !TryBase64Url(parts[0], out var payload) || !TryBase64Url(parts[1], out var signature))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            var kid = root.GetProperty("kid").GetString()!;
            var keys = await PublicKeysAsync(ct);
            var publicKey = keys.FirstOrDefault(k => k.KeyId == kid);
            if (publicKey is null)
            {
                return null;
            }

            var verifier = new Ed25519Signer();
            verifier.Init(false, new Ed25519PublicKeyParameters(publicKey.PublicKey, 0));
            verifier.BlockUpdate(payload, 0, payload.Length);
            if (!verifier.VerifySignature(signature))
            {
                return null;
            }

            return new LicenseClaims(root.GetProperty("lid").GetGuid(), root.GetProperty("srv").GetString()!, root.GetProperty("sub").GetGuid(),
                DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("iat").GetInt64()).UtcDateTime, kid);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<SigningKey>> PublicKeysAsync(CancellationToken ct)
    {
        await CurrentAsync(ct);
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<MarketplaceDb>().SigningKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ToListAsync(ct);
    }

    public static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryBase64Url(string text, out byte[] data)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        data = [];
        try
        {
            data = Convert.FromBase64String(padded);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The newest signing key, created (and stored sealed) on first use.</summary>
    private async Task<(SigningKey Key, Ed25519PrivateKeyParameters Private)> CurrentAsync(CancellationToken ct)
    {
        if (_current is { } current)
        {
            return current;
        }

        await _load.WaitAsync(ct);
        try
        {
            if (_current is { } loaded)
            {
                return loaded;
            }

            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var key = await db.SigningKeys.AsNoTracking().OrderByDescending(k => k.CreatedAt).FirstOrDefaultAsync(ct);
            if (key is null)
            {
                var privateKey = new Ed25519PrivateKeyParameters(new Org.BouncyCastle.Security.SecureRandom());
                key = new SigningKey
                {
                    KeyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
                    PublicKey = privateKey.GeneratePublicKey().GetEncoded(),
                    SealedPrivateKey = secrets.Seal(Convert.ToBase64String(privateKey.GetEncoded())),
                    CreatedAt = clock.GetUtcNow().UtcDateTime,
                };
                db.SigningKeys.Add(key);
                try
                {
                    await db.SaveChangesAsync(ct);
                }
                catch (DbUpdateException)
                {
                    // Another node created one first: use the newest.
                    db.ChangeTracker.Clear();
                    key = await db.SigningKeys.AsNoTracking().OrderByDescending(k => k.CreatedAt).FirstAsync(ct);
                }
            }

            var parameters = new Ed25519PrivateKeyParameters(Convert.FromBase64String(secrets.Open(key.SealedPrivateKey)), 0);
            _current = (key, parameters);
            return _current.Value;
        }
        finally
        {
            _load.Release();
        }
    }
}

/// <summary>The gateway's license entitlement: an active license for the consumer and listing.</summary>
public sealed class DatabaseLicenseCheck(IServiceScopeFactory scopes) : ILicenseCheck
{
    public async ValueTask<bool> HasValidLicenseAsync(Guid consumerId, string serverName, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<MarketplaceDb>().Licenses
            .AnyAsync(l => l.ConsumerId == consumerId && l.ServerName == serverName && l.Status == LicenseStatus.Active, ct);
    }
}
