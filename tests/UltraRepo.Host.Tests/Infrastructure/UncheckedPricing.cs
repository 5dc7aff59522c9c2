using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Pricing;

namespace UltraRepo.Host.Tests.Infrastructure;

/// <summary>A price list written straight to the database, as one stored before amounts were bounded would be.</summary>
public static class UncheckedPricing
{
    /// <summary>Standard pricing at decimal.MaxValue per 1K tokens: any real usage overflows its rating.</summary>
    public const string Absurd = """{"model":"usage","currency":"USD","usage":{"chargeModel":"standard","tiers":[{"upTo":null,"pricePer1k":"79228162514264337593543950335"}]}}""";

    public static async Task StoreAsync(MarketplaceApp app, string serverName, string document = Absurd)
    {
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var now = app.Clock.GetUtcNow().UtcDateTime;
        db.PricingVersions.Add(new PricingVersion { ServerName = serverName, EffectiveFrom = now.AddSeconds(-1), Model = "usage", Currency = "USD", Document = document, CreatedAt = now });
        await db.SaveChangesAsync();
    }
}
