using System.Security.Claims;

namespace UltraRepo.Accounts;

public static class MarketplaceClaims
{
    public const string UserId = "sub";
    public const string Handle = "handle";
    public const string Admin = "admin";
    public const string KeyId = "key_id";

    public static Guid GetUserId(this ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(UserId), out var id) ? id : throw new InvalidOperationException("The request is not authenticated.");

    public static Guid? FindUserId(this ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(UserId), out var id) ? id : null;

    public static string GetHandle(this ClaimsPrincipal principal) => principal.FindFirstValue(Handle) ?? "";

    public static bool IsAdmin(this ClaimsPrincipal principal) => principal.HasClaim(Admin, "true");

    public static Guid? FindKeyId(this ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(KeyId), out var id) ? id : null;

    public static ClaimsIdentity CreateIdentity(User user, string scheme, Guid? keyId = null)
    {
        var claims = new List<Claim>
        {
            new(UserId, user.Id.ToString()),
            new(Handle, user.Handle),
            new(ClaimTypes.Name, user.Handle),
        };
        if (user.IsAdmin)
        {
            claims.Add(new Claim(Admin, "true"));
        }

        if (keyId is not null)
        {
            claims.Add(new Claim(KeyId, keyId.Value.ToString()));
        }

        return new ClaimsIdentity(claims, scheme, ClaimTypes.Name, null);
    }
}
