using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Http;

namespace UltraRepo.Accounts;

public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/api/keys").WithTags("Accounts").RequireAuthorization();
        keys.MapPost("/", Create);
        keys.MapGet("/", List);
        keys.MapDelete("/{id}", Revoke);
        return app;
    }

    public sealed record CreateKeyRequest(string? Name);
    public sealed record CreatedKey(Guid Id, string Name, string Key, string Prefix, DateTime CreatedAt);
    public sealed record KeySummary(Guid Id, string Name, string Prefix, DateTime CreatedAt, DateTime? LastUsedAt);

    private static async Task<Results<Created<CreatedKey>, ProblemHttpResult>> Create(
        CreateKeyRequest request, ClaimsPrincipal principal, MarketplaceDb db, TimeProvider clock, CancellationToken ct)
    {
        var name = request.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 100)
        {
            return Problems.Validation("body.name", "name is required and at most 100 characters", request.Name);
        }

        // Names are shown back in lists and consoles: no control, line-breaking or invisible formatting characters
        // (escape sequences, CR/LF, bidi overrides, zero-width).
        if (name.Any(IsInvisibleOrControl))
        {
            return Problems.Validation("body.name", "name must not contain control, line-break or invisible formatting characters");
        }

        var secret = ApiKeySecrets.NewKey();
        var key = new ApiKey
        {
            UserId = principal.GetUserId(),
            Name = name,
            Prefix = ApiKeySecrets.DisplayPrefix(secret),
            Hash = ApiKeySecrets.Hash(secret),
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        };
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/keys/{key.Id}", new CreatedKey(key.Id, key.Name, secret, key.Prefix, key.CreatedAt));
    }

    private static bool IsInvisibleOrControl(char c) =>
        char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator;

    private static async Task<Ok<KeySummary[]>> List(ClaimsPrincipal principal, MarketplaceDb db, CancellationToken ct)
    {
        var userId = principal.GetUserId();
        var keys = await db.ApiKeys.AsNoTracking()
            .Where(k => k.UserId == userId && k.RevokedAt == null)
            .OrderByDescending(k => k.CreatedAt)
            .Select(k => new KeySummary(k.Id, k.Name, k.Prefix, k.CreatedAt, k.LastUsedAt))
            .ToArrayAsync(ct);
        return TypedResults.Ok(keys);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Revoke(
        Guid id, ClaimsPrincipal principal, MarketplaceDb db, ApiKeyResolver resolver, TimeProvider clock, CancellationToken ct)
    {
        var userId = principal.GetUserId();
        // Scoped to the caller: another user's key id is indistinguishable from an unknown one.
        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == id && k.UserId == userId && k.RevokedAt == null, ct);
        if (key is null)
        {
            return Problems.NotFound("no such API key");
        }

        key.RevokedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        resolver.Evict(key.Hash);
        return TypedResults.NoContent();
    }
}
