using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Accounts;
using UltraRepo.Http;

namespace UltraRepo.Accounts;

public static partial class AdminApi
{
    public const string AdminPolicy = "admin";

    public static IEndpointRouteBuilder MapAdminAccountsApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin/namespaces").WithTags("Admin").RequireAuthorization(AdminPolicy);
        admin.MapPost("/", Grant);
        admin.MapGet("/", List);
        admin.MapDelete("/{id}", Revoke);
        return app;
    }

    public sealed record GrantRequest(string? Handle, string? Namespace);
    public sealed record GrantResponse(Guid Id, string Handle, string Namespace, DateTime CreatedAt);

    [GeneratedRegex("^[a-zA-Z0-9.-]+\\z")]
    private static partial Regex NamespacePattern();

    private static async Task<Results<Created<GrantResponse>, ProblemHttpResult>> Grant(
        GrantRequest request, ClaimsPrincipal principal, MarketplaceDb db, TimeProvider clock, CancellationToken ct)
    {
        var ns = request.Namespace?.Trim();
        if (string.IsNullOrEmpty(ns) || ns.Length > 150 || !NamespacePattern().IsMatch(ns))
        {
            return Problems.Validation("body.namespace", "namespace must be a reverse-DNS name such as io.github.alice", request.Namespace);
        }

        var handle = AccountRules.NormalizeHandle(request.Handle ?? "");
        var user = await db.Users.FirstOrDefaultAsync(u => u.Handle == handle, ct);
        if (user is null)
        {
            return Problems.Validation("body.handle", "no user has this handle", request.Handle);
        }

        if (await db.NamespaceGrants.AnyAsync(g => g.UserId == user.Id && g.Namespace == ns, ct))
        {
            return Problems.Conflict($"{handle} may already publish to {ns}");
        }

        var grant = new NamespaceGrant { UserId = user.Id, Namespace = ns, GrantedBy = principal.GetUserId(), CreatedAt = clock.GetUtcNow().UtcDateTime };
        db.NamespaceGrants.Add(grant);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/admin/namespaces/{grant.Id}", new GrantResponse(grant.Id, user.Handle, ns, grant.CreatedAt));
    }

    private static async Task<Ok<GrantResponse[]>> List(MarketplaceDb db, CancellationToken ct) =>
        TypedResults.Ok(await db.NamespaceGrants.AsNoTracking()
            .Join(db.Users, g => g.UserId, u => u.Id, (g, u) => new { Grant = g, u.Handle })
            // Order before projecting: EF cannot translate an ORDER BY on a constructed record's property.
            .OrderBy(x => x.Grant.Namespace).ThenBy(x => x.Handle)
            .Select(x => new GrantResponse(x.Grant.Id, x.Handle, x.Grant.Namespace, x.Grant.CreatedAt))
            .ToArrayAsync(ct));

    private static async Task<Results<NoContent, ProblemHttpResult>> Revoke(Guid id, MarketplaceDb db, CancellationToken ct)
    {
        var deleted = await db.NamespaceGrants.Where(g => g.Id == id).ExecuteDeleteAsync(ct);
        return deleted == 0 ? Problems.NotFound("no such grant") : TypedResults.NoContent();
    }
}
