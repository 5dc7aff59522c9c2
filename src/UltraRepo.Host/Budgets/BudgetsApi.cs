using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Http;
using UltraRepo.Metering;

namespace UltraRepo.Budgets;

public static class BudgetsApi
{
    /// <summary>A consumer's budgets at most (one per listing, or all listings, and kind: tokens or one currency).</summary>
    public const int MaxBudgets = 100;

    /// <summary>The largest money budget, as for a license price: the shared counters hold money as 64-bit billionths.</summary>
    public const decimal MaxAmount = Domain.Pricing.PricingDocuments.MaxAmount;

    public static IEndpointRouteBuilder MapBudgetsApi(this IEndpointRouteBuilder app)
    {
        var budgets = app.MapGroup("/api/consumer/budgets").WithTags("Budgets").RequireAuthorization();
        budgets.MapGet("/", List);
        budgets.MapPut("/", Replace);
        var notifications = app.MapGroup("/api/notifications").WithTags("Budgets").RequireAuthorization();
        notifications.MapGet("/", Notifications);
        notifications.MapPost("/{id}/read", MarkRead);
        return app;
    }

    /// <summary>A budget: exactly one of <c>amount</c> (with <c>currency</c>) or <c>tokens</c>; <c>server</c> null for all listings.</summary>
    public sealed record BudgetDocument(string? Server, string? Amount, string? Currency, long? Tokens, int[]? AlertThresholds, string? Mode);

    public sealed record BudgetsDocument(BudgetDocument?[]? Budgets);

    public sealed record BudgetResponse(Guid Id, string? Server, string? Amount, string? Currency, long? Tokens, int[] AlertThresholds, string Mode);

    public sealed record NotificationResponse(Guid Id, string Kind, string Message, DateTime CreatedAt, DateTime? ReadAt);

    private static async Task<Ok<BudgetResponse[]>> List(ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct)
    {
        var consumerId = caller.GetUserId();
        var rows = await db.Budgets.AsNoTracking().Where(b => b.ConsumerId == consumerId).OrderBy(b => b.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(ToResponse).ToArray());
    }

    /// <summary>Replaces the caller's budgets with the given list (an empty list removes them).</summary>
    private static async Task<Results<Ok<BudgetResponse[]>, ProblemHttpResult>> Replace(
        BudgetsDocument request, ClaimsPrincipal caller, MarketplaceDb db, BudgetCache cache, BudgetAlerts alerts, IRecordedUsage recorded, TimeProvider clock,
        CancellationToken ct)
    {
        var errors = new List<FieldError>();
        var budgets = new List<Budget>();
        var consumerId = caller.GetUserId();
        var now = clock.GetUtcNow().UtcDateTime;
        var documents = request.Budgets ?? [];
        if (request.Budgets is null)
        {
            errors.Add(new("body.budgets", "budgets (a list, possibly empty) is required"));
        }

        // Checked first: each budget below costs a database lookup.
        if (documents.Length > MaxBudgets)
        {
            return Problems.Validation("body.budgets", $"at most {MaxBudgets} budgets", documents.Length);
        }

        var seen = new Dictionary<(string? Server, string Kind), int>();
        for (var i = 0; i < documents.Length; i++)
        {
            var at = $"body.budgets[{i}]";
            var d = documents[i];
            if (d is null)
            {
                errors.Add(new(at, "a budget must be an object"));
                continue;
            }

            decimal? amount = null;
            if (d.Amount is not null)
            {
                if (!decimal.TryParse(d.Amount, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var parsed) || parsed <= 0)
                {
                    errors.Add(new(at + ".amount", "amount must be a positive decimal string such as \"25.00\"", d.Amount));
                }
                else if (parsed > MaxAmount)
                {
                    errors.Add(new(at + ".amount", string.Create(CultureInfo.InvariantCulture, $"amount must be at most {MaxAmount:#,0}"), d.Amount));
                }
                else if (Money.IsSupported(d.Currency) && !Money.FitsMinorUnit(d.Amount, d.Currency!))
                {
                    errors.Add(new(at + ".amount", $"amount must be a whole number of {d.Currency}'s minor unit ({Money.MinorUnitDigits(d.Currency!)} decimal places at most)", d.Amount));
                }
                else
                {
                    amount = parsed;
                }

                if (!Money.IsSupported(d.Currency))
                {
                    errors.Add(new(at + ".currency", "a money budget needs its ISO 4217 currency, e.g. USD", d.Currency));
                }
            }

            if ((d.Amount is null) == (d.Tokens is null))
            {
                errors.Add(new(at, "give exactly one of amount (with currency) or tokens"));
            }
            else if (d.Tokens is not null || Money.IsSupported(d.Currency))
            {
                // Two caps on the same thing would only make the lower one matter; which one stops requests must be clear.
                var kind = d.Tokens is not null ? "tokens" : d.Currency!;
                if (seen.TryGetValue((d.Server, kind), out var first))
                {
                    errors.Add(new(at, $"repeats body.budgets[{first}]: one budget per listing (or all listings) and kind ({kind})"));
                }
                else
                {
                    seen[(d.Server, kind)] = i;
                }
            }

            if (d.Tokens is <= 0)
            {
                errors.Add(new(at + ".tokens", "tokens must be positive", d.Tokens));
            }

            var thresholds = d.AlertThresholds ?? [50, 80, 100];
            if (thresholds.Any(t => t is < 1 or > 100) || thresholds.Distinct().Count() != thresholds.Length)
            {
                errors.Add(new(at + ".alertThresholds", "thresholds are distinct percentages from 1 to 100", d.AlertThresholds));
            }

            if (d.Mode is not (null or "hard" or "alert_only"))
            {
                errors.Add(new(at + ".mode", "mode must be \"hard\" (stop at 100%) or \"alert_only\"", d.Mode));
            }

            if (d.Server is not null && !await db.Listings.AnyAsync(l => l.ServerName == d.Server, ct))
            {
                errors.Add(new(at + ".server", "no listing has this name", d.Server));
            }

            budgets.Add(new Budget
            {
                ConsumerId = consumerId,
                ServerName = d.Server,
                AmountLimit = amount,
                Currency = d.Amount is null ? null : d.Currency,
                TokenLimit = d.Tokens,
                AlertThresholds = string.Join(',', thresholds.Order()),
                AlertOnly = d.Mode == "alert_only",
                CreatedAt = now,
            });
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Budgets.Where(b => b.ConsumerId == consumerId).ExecuteDeleteAsync(ct);
        db.Budgets.AddRange(budgets);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        cache.Forget(consumerId);
        // Thresholds the month's recorded usage has already reached are alerted now, not skipped.
        var period = Subscriptions.Entitlements.PeriodOf(now);
        var totals = (await recorded.ForConsumerAsync(consumerId, period, ct))
            .Select(u => new UsageLimits.ServerTotals(u.ServerName, u.Currency, u.Tokens, 0, u.Cost, 0)).ToList();
        await alerts.NotifyAsync(consumerId, period, UsageLimits.Reached(budgets.Select(b => b.ToLimit()), totals), ct);
        return TypedResults.Ok(budgets.Select(ToResponse).ToArray());
    }

    private static async Task<Ok<NotificationResponse[]>> Notifications(ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct, bool unread = false)
    {
        var userId = caller.GetUserId();
        var query = db.Notifications.AsNoTracking().Where(n => n.UserId == userId);
        if (unread)
        {
            query = query.Where(n => n.ReadAt == null);
        }

        var rows = await query.OrderByDescending(n => n.CreatedAt).Take(200).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(n => new NotificationResponse(n.Id, n.Kind, n.Message, n.CreatedAt, n.ReadAt)).ToArray());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> MarkRead(Guid id, ClaimsPrincipal caller, MarketplaceDb db, TimeProvider clock, CancellationToken ct)
    {
        var userId = caller.GetUserId();
        var now = clock.GetUtcNow().UtcDateTime;
        var updated = await db.Notifications.Where(n => n.Id == id && n.UserId == userId).ExecuteUpdateAsync(s => s.SetProperty(n => n.ReadAt, now), ct);
        return updated == 0 ? Problems.NotFound("no such notification") : TypedResults.NoContent();
    }

    private static BudgetResponse ToResponse(Budget b) =>
        new(b.Id, b.ServerName, b.AmountLimit is { } a ? Money.Format(a, b.Currency!) : null, b.Currency, b.TokenLimit,
            b.Thresholds.ToArray(), b.AlertOnly ? "alert_only" : "hard");
}
