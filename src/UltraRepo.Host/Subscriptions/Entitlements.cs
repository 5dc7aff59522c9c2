using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Pricing;

namespace UltraRepo.Subscriptions;

/// <summary>Why a consumer may not use a listing, with the place to fix it.</summary>
public sealed record Denial(string Reason, string Message, string Fix);

/// <summary>A consumer's right to call a listing in a period, and the price list that period is rated at.</summary>
public sealed record Entitlement(Denial? Denied, Guid? SubscriptionId, PricingPlan Plan, string Period)
{
    public bool Allowed => Denied is null;
}

/// <summary>Checks whether a consumer holds a valid license for a listing (the billing feature provides it).</summary>
public interface ILicenseCheck
{
    ValueTask<bool> HasValidLicenseAsync(Guid consumerId, string serverName, CancellationToken ct);
}

/// <summary>
/// Entitlement rules: free listings are open to any signed-in consumer (a subscription is created on
/// first use); usage listings need an active subscription; license listings need a valid license;
/// hybrid listings need both. The price list is snapshotted per subscription and calendar month at the
/// period's first use, so a mid-month price change applies to existing subscribers from the next month.
/// </summary>
public sealed class Entitlements(IServiceScopeFactory scopes, IMemoryCache cache, ILicenseCheck licenses, TimeProvider clock, ILogger<Entitlements> logger)
{
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StaleLimit = TimeSpan.FromHours(1);

    public static string PeriodOf(DateTime instant) => instant.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public async ValueTask<Entitlement> CheckAsync(Guid consumerId, string serverName, DateTime now, string listingUrl, CancellationToken ct)
    {
        var period = PeriodOf(now);
        var key = $"entitlement:{consumerId}:{serverName}:{period}";
        var wallClock = clock.GetUtcNow().UtcDateTime;
        cache.TryGetValue(key, out Cached? cached);
        if (cached is not null && wallClock < cached.FreshUntil)
        {
            return cached.Entitlement;
        }

        try
        {
            var entitlement = await EvaluateAsync(consumerId, serverName, now, period, listingUrl, ct);
            // Grants stay usable while the database is unreachable; denials are re-checked soon.
            cache.Set(key, new Cached(entitlement, wallClock + (entitlement.Allowed ? CacheLifetime : TimeSpan.FromSeconds(2))),
                entitlement.Allowed ? StaleLimit : TimeSpan.FromSeconds(2));
            return entitlement;
        }
        catch (Exception e) when (cached is { Entitlement.Allowed: true } && e is not OperationCanceledException)
        {
            logger.LogWarning("Entitlement check failed ({Error}); using the last known grant", e.GetBaseException().Message);
            return cached.Entitlement;
        }
    }

    private sealed record Cached(Entitlement Entitlement, DateTime FreshUntil);

    /// <summary>Drops cached decisions after a subscription or license change on this node.</summary>
    public void Forget(Guid consumerId, string serverName, DateTime now) =>
        cache.Remove($"entitlement:{consumerId}:{serverName}:{PeriodOf(now)}");

    private async Task<Entitlement> EvaluateAsync(Guid consumerId, string serverName, DateTime now, string period, string listingUrl, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var current = await scope.ServiceProvider.GetRequiredService<PricingCatalog>().AtAsync(serverName, now, ct);
        var model = current.Plan.Model;

        if (model is PricingModel.License or PricingModel.Hybrid && !await licenses.HasValidLicenseAsync(consumerId, serverName, ct))
        {
            return new Entitlement(new Denial("license_required",
                $"{serverName} requires a license; buy one on its listing.",
                $"{listingUrl} (POST /api/licenses/checkout {{\"server\":\"{serverName}\"}})"), null, current.Plan, period);
        }

        var subscription = await db.Subscriptions.AsNoTracking()
            .FirstOrDefaultAsync(s => s.ConsumerId == consumerId && s.ServerName == serverName && s.Status == SubscriptionStatus.Active, ct);
        if (subscription is null && model is PricingModel.Usage or PricingModel.Hybrid)
        {
            return new Entitlement(new Denial("subscription_required",
                $"{serverName} is usage-priced; subscribe to it before calling it.",
                $"POST /api/subscriptions {{\"server\":\"{serverName}\"}} (listing: {listingUrl})"), null, current.Plan, period);
        }

        if (subscription is null && model == PricingModel.License)
        {
            // A licensed listing has no usage price; calls are recorded without a subscription.
            return new Entitlement(null, null, current.Plan, period);
        }

        subscription ??= await SubscribeAsync(db, consumerId, serverName, now, ct);
        var plan = await PeriodPlanAsync(db, subscription.Id, period, current, now, ct);
        return new Entitlement(null, subscription.Id, plan, period);
    }

    /// <summary>Free listings: the subscription that records usage is created on first use.</summary>
    private static async Task<Subscription> SubscribeAsync(MarketplaceDb db, Guid consumerId, string serverName, DateTime now, CancellationToken ct)
    {
        var subscription = new Subscription { ConsumerId = consumerId, ServerName = serverName, CreatedAt = now };
        db.Subscriptions.Add(subscription);
        try
        {
            await db.SaveChangesAsync(ct);
            return subscription;
        }
        catch (DbUpdateException)
        {
            // A concurrent first call created it.
            db.ChangeTracker.Clear();
            return await db.Subscriptions.AsNoTracking().FirstAsync(s => s.ConsumerId == consumerId && s.ServerName == serverName && s.Status == SubscriptionStatus.Active, ct);
        }
    }

    internal static async Task<PricingPlan> PeriodPlanAsync(MarketplaceDb db, Guid subscriptionId, string period, PricedPlan current, DateTime now, CancellationToken ct)
    {
        var snapshot = await db.SubscriptionPeriods.AsNoTracking().FirstOrDefaultAsync(p => p.SubscriptionId == subscriptionId && p.Period == period, ct);
        if (snapshot is null)
        {
            snapshot = new SubscriptionPeriod
            {
                SubscriptionId = subscriptionId,
                Period = period,
                PricingVersionId = current.VersionId,
                Pricing = JsonSerializer.Serialize(PricingDocuments.ToDocument(current.Plan), PricingDocuments.Json),
                CreatedAt = now,
            };
            db.SubscriptionPeriods.Add(snapshot);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear();
                snapshot = await db.SubscriptionPeriods.AsNoTracking().FirstAsync(p => p.SubscriptionId == subscriptionId && p.Period == period, ct);
            }
        }

        return PlanOf(snapshot);
    }

    /// <summary>The price list a period snapshot holds.</summary>
    internal static PricingPlan PlanOf(SubscriptionPeriod snapshot)
    {
        var document = JsonSerializer.Deserialize<PricingDocument>(snapshot.Pricing, PricingDocuments.Json)!;
        return PricingDocuments.Parse(document).Plan ?? throw new InvalidOperationException($"period pricing {snapshot.Id} does not validate");
    }
}

/// <summary>Until license purchases exist, no one holds a license.</summary>
public sealed class NoLicenses : ILicenseCheck
{
    public ValueTask<bool> HasValidLicenseAsync(Guid consumerId, string serverName, CancellationToken ct) => ValueTask.FromResult(false);
}
