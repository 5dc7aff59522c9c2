using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using UltraRepo.Data;

namespace UltraRepo.Accounts;

public static class AccountsExtensions
{
    private const string SmartScheme = "CookieOrApiKey";

    public static IHostApplicationBuilder AddAccounts(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddMemoryCache();
        services.AddOptions<AccountsOptions>().BindConfiguration("Accounts");
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<ApiKeyResolver>();
        services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();

        // Cookie keys live in the database so every node of a scale-out deployment can read every cookie.
        services.AddDataProtection().SetApplicationName("UltraRepo").PersistKeysToDbContext<MarketplaceDb>();

        services.AddAuthentication(SmartScheme)
            .AddPolicyScheme(SmartScheme, "Cookie or API key", o => o.ForwardDefaultSelector = http =>
                ApiKeyAuthenticationHandler.ReadBearer(http.Request) is null
                    ? CookieAuthenticationDefaults.AuthenticationScheme
                    : ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddCookie(o =>
            {
                o.Cookie.Name = "ultrarepo.session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.ExpireTimeSpan = TimeSpan.FromDays(14);
                o.SlidingExpiration = true;
                // An API answers 401/403, never a redirect to a login page.
                o.Events.OnRedirectToLogin = ctx => { ctx.Response.StatusCode = StatusCodes.Status401Unauthorized; return Task.CompletedTask; };
                o.Events.OnRedirectToAccessDenied = ctx => { ctx.Response.StatusCode = StatusCodes.Status403Forbidden; return Task.CompletedTask; };
            });

        services.AddAuthorizationBuilder()
            .AddPolicy(AdminApi.AdminPolicy, p => p.RequireAuthenticatedUser().RequireClaim(MarketplaceClaims.Admin, "true"));

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (ctx, ct) =>
            {
                if (ctx.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                {
                    ctx.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
                }

                await Http.Problems.TooManyRequests("too many login attempts; try again later").ExecuteAsync(ctx.HttpContext);
            };
            // Login attempts per client address; failed attempts per account are limited in the handler too.
            var limits = builder.Configuration.GetSection("Accounts").Get<AccountsOptions>() ?? new AccountsOptions();
            o.AddPolicy(AuthApi.LoginRateLimit, http => RateLimitPartition.GetFixedWindowLimiter(
                http.Connection.RemoteIpAddress?.ToString() ?? "local",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = limits.LoginAttemptsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder app)
    {
        app.MapAuthApi();
        app.MapKeysApi();
        app.MapAdminAccountsApi();
        return app;
    }
}
