using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using UltraRepo.Data;
using UltraRepo.Metering;

namespace UltraRepo.Budgets;

/// <summary>
/// Consumers' budgets for the gateway's hot path, cached briefly (changes on this node apply at once).
/// While the database is unreachable the last known budgets keep applying.
/// </summary>
public sealed class BudgetCache(IServiceScopeFactory scopes, IMemoryCache cache, TimeProvider clock, ILogger<BudgetCache> logger)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StaleLimit = TimeSpan.FromHours(1);

    public async ValueTask<IReadOnlyList<BudgetLimit>> ForConsumerAsync(Guid consumerId, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        cache.TryGetValue(Key(consumerId), out Cached? cached);
        if (cached is not null && now - cached.LoadedAt < Lifetime)
        {
            return cached.Limits;
        }

        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var rows = await db.Budgets.AsNoTracking().Where(b => b.ConsumerId == consumerId).ToListAsync(ct);
            IReadOnlyList<BudgetLimit> limits = rows.Select(b => b.ToLimit()).ToList();
            cache.Set(Key(consumerId), new Cached(limits, now), StaleLimit);
            return limits;
        }
        catch (Exception e) when (cached is not null && e is not OperationCanceledException)
        {
            logger.LogWarning("Budget lookup failed ({Error}); using the last known budgets", e.GetBaseException().Message);
            return cached.Limits;
        }
    }

    private sealed record Cached(IReadOnlyList<BudgetLimit> Limits, DateTime LoadedAt);

    public void Forget(Guid consumerId) => cache.Remove(Key(consumerId));

    private static string Key(Guid consumerId) => "budgets:" + consumerId;
}

/// <summary>
/// Turns budget threshold crossings into notifications, once per consumer, period, threshold and cap (listing, and amount
/// or tokens): saving the same budgets again does not repeat an alert; a budget with a new cap is alerted afresh.
/// </summary>
public sealed class BudgetAlerts(IServiceScopeFactory scopes, TimeProvider clock, ILogger<BudgetAlerts> logger)
{
    private static string DedupKey(Guid consumerId, string period, BudgetCrossing crossing)
    {
        var budget = crossing.Budget;
        var cap = budget.TokenLimit is { } tokens
            ? $"{budget.ServerName}|{tokens} tokens"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{budget.ServerName}|{budget.AmountLimit} {budget.Currency}");
        var capHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(cap)))[..32];
        return $"budget:{consumerId}:{period}:{crossing.Threshold}:{capHash}";
    }

    public async Task NotifyAsync(Guid consumerId, string period, IReadOnlyList<BudgetCrossing> crossings, CancellationToken ct)
    {
        if (crossings.Count == 0)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        foreach (var crossing in crossings)
        {
            var budget = crossing.Budget;
            var what = budget.ServerName is null ? "your monthly budget" : $"your monthly budget for {budget.ServerName}";
            var unit = budget.TokenLimit is not null ? "tokens" : budget.Currency;
            var stop = crossing.Threshold >= 100 && !budget.AlertOnly ? " Requests are stopped until next month or until you raise the budget." : "";
            db.Notifications.Add(new Notification
            {
                UserId = consumerId,
                Kind = "budget_alert",
                Message = $"You have used {crossing.Threshold}% of {what} ({crossing.Used:0.######} of {crossing.Limit:0.######} {unit}) in {period}.{stop}",
                DedupKey = DedupKey(consumerId, period, crossing),
                CreatedAt = clock.GetUtcNow().UtcDateTime,
            });
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                // Another node (or request) already sent this alert.
                db.ChangeTracker.Clear();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not store a budget alert for {Consumer}", consumerId);
                db.ChangeTracker.Clear();
            }
        }
    }
}
