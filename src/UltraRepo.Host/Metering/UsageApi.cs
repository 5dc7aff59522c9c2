using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Http;

namespace UltraRepo.Metering;

public static class UsageApi
{
    public static IEndpointRouteBuilder MapUsageApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/consumer/usage/events", Events).WithTags("Usage").RequireAuthorization();
        return app;
    }

    public sealed record UsageEventResponse(
        Guid Id, DateTime Timestamp, string Server, string? Version, string? Method, string? Target, string? JsonRpcId, string? SessionId,
        long InputTokens, long OutputTokens, long TotalTokens, int LatencyMs, string Outcome, int HttpStatus, string Cost, string Currency, string? Tokenizer);

    public sealed record UsageEventsPage(IReadOnlyList<UsageEventResponse> Events, string? NextBefore);

    /// <summary>The caller's own most recent usage events, newest first; page with <c>before</c> (an event id).</summary>
    private static async Task<Results<Ok<UsageEventsPage>, ProblemHttpResult>> Events(
        ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct, string? server = null, int limit = 50, Guid? before = null)
    {
        if (limit is < 1 or > 500)
        {
            return Problems.Validation("query.limit", "limit must be from 1 to 500", limit);
        }

        var consumerId = caller.GetUserId();
        var query = db.UsageEvents.AsNoTracking().Where(e => e.ConsumerId == consumerId);
        if (server is not null)
        {
            query = query.Where(e => e.ServerName == server);
        }

        if (before is { } cursor)
        {
            query = query.Where(e => e.Id.CompareTo(cursor) < 0);
        }

        var rows = await query.OrderByDescending(e => e.Id).Take(limit + 1).ToListAsync(ct);
        var more = rows.Count > limit;
        var page = rows.Take(limit).Select(e => new UsageEventResponse(
            e.Id, e.Timestamp, e.ServerName, e.ServerVersion, e.Method, e.Target, e.JsonRpcId, e.SessionId, e.InputTokens, e.OutputTokens, e.TotalTokens,
            e.LatencyMs, e.Outcome, e.HttpStatus, Domain.Common.Money.Format(e.Cost), e.Currency, e.Tokenizer)).ToList();
        return TypedResults.Ok(new UsageEventsPage(page, more ? page[^1].Id.ToString() : null));
    }
}
