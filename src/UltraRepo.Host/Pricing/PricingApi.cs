using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Http;
using UltraRepo.Registry;

namespace UltraRepo.Pricing;

public static class PricingApi
{
    public static IEndpointRouteBuilder MapPricingApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/servers/{serverName}/pricing").WithTags("Pricing");
        group.MapGet("/", Get);
        group.MapPut("/", Put).RequireAuthorization();
        return app;
    }

    public sealed record SetPricingRequest
    {
        public string? Model { get; init; }
        public string? Currency { get; init; }
        public LicenseDocument? License { get; init; }
        public UsageDocument? Usage { get; init; }
        /// <summary>When the price applies; default now. Past instants are refused: billed usage keeps its price.</summary>
        public DateTime? EffectiveFrom { get; init; }
    }

    public sealed record PricingResponse(string ServerName, PricingDocument Pricing, DateTime? EffectiveFrom, IReadOnlyList<ScheduledPricing> Scheduled);
    public sealed record ScheduledPricing(PricingDocument Pricing, DateTime EffectiveFrom);

    private static async Task<Results<Ok<PricingResponse>, ProblemHttpResult>> Get(
        string serverName, MarketplaceDb db, PricingCatalog catalog, TimeProvider clock, CancellationToken ct)
    {
        var name = Uri.UnescapeDataString(serverName);
        if (!await db.Listings.AnyAsync(l => l.ServerName == name, ct))
        {
            return Problems.NotFound("Server not found");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var current = await catalog.CurrentAsync(name, ct);
        var scheduled = (await catalog.HistoryAsync(name, ct))
            .Where(v => v.EffectiveFrom > now)
            .OrderBy(v => v.EffectiveFrom)
            .Select(v => new ScheduledPricing(PricingDocuments.ToDocument(PricingCatalog.ToPriced(v).Plan), v.EffectiveFrom))
            .ToList();
        return TypedResults.Ok(new PricingResponse(name, PricingDocuments.ToDocument(current.Plan), current.VersionId is null ? null : current.EffectiveFrom, scheduled));
    }

    private static async Task<Results<Ok<PricingResponse>, ProblemHttpResult>> Put(
        string serverName, SetPricingRequest request, ClaimsPrincipal caller, MarketplaceDb db, RegistryCache cache, TimeProvider clock, CancellationToken ct)
    {
        var name = Uri.UnescapeDataString(serverName);
        var listing = await db.Listings.AsNoTracking().FirstOrDefaultAsync(l => l.ServerName == name, ct);
        if (listing is null)
        {
            return Problems.NotFound("Server not found");
        }

        var userId = caller.GetUserId();
        if (listing.OwnerId != userId && !caller.IsAdmin())
        {
            return Problems.Forbidden("only the listing's owner can set its pricing");
        }

        var document = new PricingDocument { Model = request.Model, Currency = request.Currency, License = request.License, Usage = request.Usage };
        var (plan, errors) = PricingDocuments.ParseSubmitted(document);
        if (plan is null)
        {
            return Problems.Validation(errors);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var effectiveFrom = request.EffectiveFrom?.ToUniversalTime() ?? now;
        if (effectiveFrom < now.AddSeconds(-5))
        {
            return Problems.Validation("body.effectiveFrom", "effectiveFrom cannot be in the past: usage already recorded keeps the price it had", request.EffectiveFrom);
        }

        var canonical = PricingDocuments.ToDocument(plan);
        var version = new PricingVersion
        {
            ServerName = name,
            EffectiveFrom = effectiveFrom,
            Model = canonical.Model!,
            Currency = plan.Currency,
            Document = JsonSerializer.Serialize(canonical, PricingDocuments.Json),
            CreatedAt = now,
            CreatedBy = userId,
        };
        db.PricingVersions.Add(version);
        await db.SaveChangesAsync(ct);
        await cache.InvalidateAsync(ct);
        return TypedResults.Ok(new PricingResponse(name, canonical, effectiveFrom, []));
    }
}
