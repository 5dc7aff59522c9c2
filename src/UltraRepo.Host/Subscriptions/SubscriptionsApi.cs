using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Http;
using UltraRepo.Pricing;

namespace UltraRepo.Subscriptions;

public static class SubscriptionsApi
{
    public static IEndpointRouteBuilder MapSubscriptionsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/subscriptions").WithTags("Subscriptions").RequireAuthorization();
        group.MapPost("/", Subscribe);
        group.MapGet("/", List);
        group.MapDelete("/{id}", Cancel);
        return app;
    }

    public sealed record SubscribeRequest(string? Server);
    public sealed record SubscriptionResponse(Guid Id, string Server, string Status, DateTime CreatedAt, DateTime? CancelledAt, PricingDocument? Pricing);

    private static async Task<Results<Created<SubscriptionResponse>, ProblemHttpResult>> Subscribe(
        SubscribeRequest request, ClaimsPrincipal caller, MarketplaceDb db, PricingCatalog pricing, Entitlements entitlements, TimeProvider clock, CancellationToken ct)
    {
        var server = request.Server?.Trim();
        if (string.IsNullOrEmpty(server))
        {
            return Problems.Validation("body.server", "server (a listing name such as com.example/weather) is required");
        }

        if (!await db.Listings.AnyAsync(l => l.ServerName == server, ct))
        {
            return Problems.Validation("body.server", "no listing has this name", server);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var current = await pricing.AtAsync(server, now, ct);
        if (current.Plan.Model == PricingModel.License)
        {
            return Problems.Validation("body.server", $"{server} is sold as a one-time license, not by subscription: POST /api/licenses/checkout", server);
        }

        var consumerId = caller.GetUserId();
        var existing = await db.Subscriptions.FirstOrDefaultAsync(s => s.ConsumerId == consumerId && s.ServerName == server && s.Status == SubscriptionStatus.Active, ct);
        if (existing is not null)
        {
            return Problems.Conflict($"you already subscribe to {server} (subscription {existing.Id})", "body.server");
        }

        var subscription = new Subscription { ConsumerId = consumerId, ServerName = server, CreatedAt = now };
        db.Subscriptions.Add(subscription);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            return Problems.Conflict($"you already subscribe to {server}", "body.server");
        }

        // The current period's price is fixed now.
        await Entitlements.PeriodPlanAsync(db, subscription.Id, Entitlements.PeriodOf(now), current, now, ct);
        entitlements.Forget(consumerId, server, now);
        return TypedResults.Created($"/api/subscriptions/{subscription.Id}", ToResponse(subscription, PricingDocuments.ToDocument(current.Plan)));
    }

    private static async Task<Ok<SubscriptionResponse[]>> List(ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct, string? status = null)
    {
        var consumerId = caller.GetUserId();
        var query = db.Subscriptions.AsNoTracking().Where(s => s.ConsumerId == consumerId);
        if (status != "all")
        {
            query = query.Where(s => s.Status == SubscriptionStatus.Active);
        }

        var rows = await query.OrderByDescending(s => s.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(s => ToResponse(s, null)).ToArray());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Cancel(Guid id, ClaimsPrincipal caller, MarketplaceDb db, Entitlements entitlements, TimeProvider clock, CancellationToken ct)
    {
        var consumerId = caller.GetUserId();
        // Scoped to the caller: another consumer's subscription id is indistinguishable from an unknown one.
        var subscription = await db.Subscriptions.FirstOrDefaultAsync(s => s.Id == id && s.ConsumerId == consumerId && s.Status == SubscriptionStatus.Active, ct);
        if (subscription is null)
        {
            return Problems.NotFound("no such active subscription");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        subscription.Status = SubscriptionStatus.Cancelled;
        subscription.CancelledAt = now;
        await db.SaveChangesAsync(ct);
        entitlements.Forget(consumerId, subscription.ServerName, now);
        return TypedResults.NoContent();
    }

    private static SubscriptionResponse ToResponse(Subscription s, PricingDocument? pricing) =>
        new(s.Id, s.ServerName, s.Status, s.CreatedAt, s.CancelledAt, pricing);
}
