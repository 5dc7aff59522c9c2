using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Accounts;
using UltraRepo.Http;

namespace UltraRepo.Accounts;

public static class AuthApi
{
    public const string LoginRateLimit = "login";

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth").WithTags("Accounts");
        auth.MapPost("/register", Register);
        auth.MapPost("/login", Login).RequireRateLimiting(LoginRateLimit);
        auth.MapPost("/logout", (Delegate)Logout);
        app.MapGet("/api/me", Me).WithTags("Accounts").RequireAuthorization();
        return app;
    }

    public sealed record RegisterRequest(string? Email, string? Password, string? Handle);
    public sealed record LoginRequest(string? Email, string? Password);
    public sealed record UserResponse(Guid Id, string Email, string Handle, bool IsAdmin, DateTime CreatedAt, IReadOnlyList<string> Namespaces);

    private static async Task<Results<Created<UserResponse>, ProblemHttpResult>> Register(
        RegisterRequest request, MarketplaceDb db, IPasswordHasher<User> hasher, TimeProvider clock, CancellationToken ct)
    {
        var errors = AccountRules.ValidateRegistration(request.Email, request.Password, request.Handle);
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var email = AccountRules.NormalizeEmail(request.Email!);
        var handle = AccountRules.NormalizeHandle(request.Handle!);
        if (await db.Users.AnyAsync(u => u.Email == email, ct))
        {
            return Problems.Conflict("an account with this email already exists", "body.email");
        }

        if (await db.Users.AnyAsync(u => u.Handle == handle, ct))
        {
            return Problems.Conflict("this handle is taken", "body.handle");
        }

        var user = new User { Email = email, Handle = handle, PasswordHash = "", CreatedAt = clock.GetUtcNow().UtcDateTime };
        user.PasswordHash = hasher.HashPassword(user, request.Password!);
        db.Users.Add(user);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Lost a race with a concurrent registration of the same email or handle.
            return Problems.Conflict("an account with this email or handle already exists", "body.email");
        }

        return TypedResults.Created("/api/me", ToResponse(user, []));
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> Login(
        LoginRequest request, HttpContext http, MarketplaceDb db, IPasswordHasher<User> hasher, LoginThrottle throttle, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Email) || string.IsNullOrEmpty(request.Password))
        {
            return Problems.Validation(string.IsNullOrWhiteSpace(request.Email) ? "body.email" : "body.password", "email and password are required");
        }

        var email = AccountRules.NormalizeEmail(request.Email);
        if (throttle.IsLocked(email))
        {
            return Problems.TooManyRequests("too many failed logins for this account; try again in 15 minutes");
        }

        var user = await db.Users.FirstOrDefaultAsync(u => u.Email == email, ct);
        var verdict = user is null ? PasswordVerificationResult.Failed : hasher.VerifyHashedPassword(user, user.PasswordHash, request.Password);
        if (user is null || verdict == PasswordVerificationResult.Failed)
        {
            throttle.RecordFailure(email);
            return Problems.Unauthorized("email or password is incorrect");
        }

        throttle.Reset(email);

        if (verdict == PasswordVerificationResult.SuccessRehashNeeded)
        {
            user.PasswordHash = hasher.HashPassword(user, request.Password);
            await db.SaveChangesAsync(ct);
        }

        var principal = new ClaimsPrincipal(MarketplaceClaims.CreateIdentity(user, CookieAuthenticationDefaults.AuthenticationScheme));
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, principal);
        return TypedResults.Ok(ToResponse(user, await NamespacePolicy.PublishableNamespacesAsync(db, user, ct)));
    }

    private static async Task<NoContent> Logout(HttpContext http)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> Me(ClaimsPrincipal principal, MarketplaceDb db, CancellationToken ct)
    {
        var id = principal.GetUserId();
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct);
        return user is null
            ? Problems.Unauthorized("the account no longer exists")
            : TypedResults.Ok(ToResponse(user, await NamespacePolicy.PublishableNamespacesAsync(db, user, ct)));
    }

    private static UserResponse ToResponse(User user, IReadOnlyList<string> namespaces) =>
        new(user.Id, user.Email, user.Handle, user.IsAdmin, user.CreatedAt, namespaces.Count > 0 ? namespaces : [user.OwnNamespace]);
}
