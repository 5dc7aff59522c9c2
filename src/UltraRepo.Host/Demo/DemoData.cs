using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Domain.Registry;
using UltraRepo.Pricing;
using UltraRepo.Registry;

namespace UltraRepo.Demo;

public sealed class DemoOptions
{
    /// <summary>Load demo accounts, listings and the imported seed registry. Default on in the embedded mode.</summary>
    public bool? Seed { get; set; }

    /// <summary>Where the demo consumer's API key is kept so the start banner can show it again.</summary>
    public string CredentialsFile { get; set; } = "./data/demo-credentials.json";
}

public sealed record DemoAccount(string Role, string Email, string Handle, string Password);

public sealed record DemoCredentials(IReadOnlyList<DemoAccount> Accounts, string ConsumerApiKey, string DemoServer, string GatewayUrl);

/// <summary>
/// Idempotent demo data: an admin, a publisher (alice) and a consumer (bob) with an API key, alice's
/// listing of the host's own demo MCP server with graduated usage pricing, a licensed package listing,
/// and the official registry's May 2025 seed imported as free listings.
/// </summary>
public sealed class DemoData(IServiceProvider services, IOptions<RegistryOptions> registry, IOptions<DemoOptions> options, TimeProvider clock, ILogger<DemoData> logger)
{
    public const string Password = "ultrarepo-demo-2026";
    public const string DemoServerName = "com.ultrarepo.alice/text-tools";
    public const string LicensedServerName = "com.ultrarepo.alice/pdf-toolkit";
    private const string SeedResource = "UltraRepo.Demo.Data.mcp-registry-seed-2025-05.json";

    public static readonly DemoAccount[] Accounts =
    [
        new("admin", "admin@ultrarepo.local", "admin", Password),
        new("publisher", "alice@example.com", "alice", Password),
        new("consumer", "bob@example.com", "bob", Password),
    ];

    public async Task<DemoCredentials> EnsureAsync(CancellationToken ct)
    {
        var db = services.GetRequiredService<MarketplaceDb>();
        var users = new Dictionary<string, User>();
        foreach (var account in Accounts)
        {
            users[account.Handle] = await AdminBootstrap.EnsureUserAsync(services, account.Email, account.Handle, account.Password, account.Role == "admin", ct);
        }

        var publisher = services.GetRequiredService<PublishServer>();
        var demoUrl = registry.Value.PublicUrl.TrimEnd('/') + DemoMcpServer.Path;
        if (!await db.Listings.AnyAsync(l => l.ServerName == DemoServerName, ct))
        {
            await PublishAsync(publisher, DemoServer(demoUrl), users["alice"].Id, ct);
            await SetPricingAsync(db, DemoServerName, users["alice"].Id, new PricingDocument
            {
                Model = "usage",
                Currency = "USD",
                Usage = new UsageDocument
                {
                    ChargeModel = "graduated",
                    Tiers =
                    [
                        new TierDocument { UpTo = 100_000, PricePer1k = "0.002" },
                        new TierDocument { UpTo = 1_000_000, PricePer1k = "0.0015" },
                        new TierDocument { UpTo = null, PricePer1k = "0.001" },
                    ],
                },
            }, ct);
        }

        if (!await db.Listings.AnyAsync(l => l.ServerName == LicensedServerName, ct))
        {
            await PublishAsync(publisher, LicensedServer(), users["alice"].Id, ct);
            await SetPricingAsync(db, LicensedServerName, users["alice"].Id, new PricingDocument
            {
                Model = "license",
                Currency = "USD",
                License = new LicenseDocument { Price = "29.00" },
            }, ct);
        }

        if (!await db.RegistryEntries.AnyAsync(e => e.Origin == EntryOrigin.Imported, ct))
        {
            await using var seed = typeof(DemoData).Assembly.GetManifestResourceStream(SeedResource)
                ?? throw new InvalidOperationException($"embedded resource {SeedResource} is missing");
            var report = await services.GetRequiredService<RegistryImporter>().ImportAsync(seed, ct);
            logger.LogInformation("Demo catalogue: imported {Imported} listings from the registry seed, rejected {Rejected} (see the import report for reasons)", report.Imported, report.Rejected);
        }

        var key = await ConsumerKeyAsync(db, users["bob"], ct);
        return new DemoCredentials(Accounts, key, DemoServerName, registry.Value.PublicUrl.TrimEnd('/') + "/mcp/" + DemoServerName);
    }

    private async Task PublishAsync(PublishServer publisher, ServerJson server, Guid ownerId, CancellationToken ct)
    {
        // The demo listing points at this host (loopback), which publishing would refuse; everything else is validated.
        var errors = ServerJsonValidator.Validate(server, allowNonPublicRemotes: true);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"demo listing {server.Name} is invalid: {errors[0].Location}: {errors[0].Message}");
        }

        await publisher.StoreAsync(server, ownerId, EntryOrigin.Published, ct);
    }

    private async Task SetPricingAsync(MarketplaceDb db, string serverName, Guid ownerId, PricingDocument document, CancellationToken ct)
    {
        var (plan, _) = PricingDocuments.Parse(document);
        var now = clock.GetUtcNow().UtcDateTime;
        db.PricingVersions.Add(new PricingVersion
        {
            ServerName = serverName,
            EffectiveFrom = now,
            Model = document.Model!,
            Currency = plan!.Currency,
            Document = JsonSerializer.Serialize(PricingDocuments.ToDocument(plan), PricingDocuments.Json),
            CreatedAt = now,
            CreatedBy = ownerId,
        });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The consumer's key is stored hashed like any other; its secret is kept in the demo credentials file only.</summary>
    private async Task<string> ConsumerKeyAsync(MarketplaceDb db, User bob, CancellationToken ct)
    {
        var file = options.Value.CredentialsFile;
        if (File.Exists(file))
        {
            var saved = JsonSerializer.Deserialize<SavedKey>(await File.ReadAllTextAsync(file, ct));
            if (saved is not null && await db.ApiKeys.AnyAsync(k => k.Hash == ApiKeySecrets.Hash(saved.Key) && k.RevokedAt == null, ct))
            {
                return saved.Key;
            }
        }

        var secret = ApiKeySecrets.NewKey();
        db.ApiKeys.Add(new ApiKey
        {
            UserId = bob.Id,
            Name = "demo key",
            Prefix = ApiKeySecrets.DisplayPrefix(secret),
            Hash = ApiKeySecrets.Hash(secret),
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(ct);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new SavedKey(secret)), ct);
        return secret;
    }

    private sealed record SavedKey(string Key);

    private static ServerJson DemoServer(string url) => new()
    {
        Schema = ServerJsonSerializer.CurrentSchema,
        Name = DemoServerName,
        Title = "Text Tools (demo)",
        Description = "Text statistics, JSON formatting, hashing and text generation: the marketplace's demo server.",
        Version = "1.0.0",
        Remotes = [new Transport { Type = "streamable-http", Url = url }],
    };

    private static ServerJson LicensedServer() => new()
    {
        Schema = ServerJsonSerializer.CurrentSchema,
        Name = LicensedServerName,
        Title = "PDF Toolkit (demo)",
        Description = "Extract text, tables and metadata from PDF files. A licensed package listing for the demo.",
        Version = "2.1.0",
        Packages =
        [
            new Package
            {
                RegistryType = "npm",
                RegistryBaseUrl = "https://registry.npmjs.org",
                Identifier = "@ultrarepo-demo/pdf-toolkit",
                Version = "2.1.0",
                Transport = new Transport { Type = "stdio" },
            },
        ],
    };
}
