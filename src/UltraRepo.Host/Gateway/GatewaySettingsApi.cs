using System.Collections.Frozen;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Metering;
using UltraRepo.Http;
using UltraRepo.Registry;

namespace UltraRepo.Gateway;

/// <summary>
/// A publisher's gateway settings for a listing: the tokenizer that meters it and an upstream
/// credential (a header the gateway adds; its value is encrypted at rest and never shown again).
/// </summary>
public static partial class GatewaySettingsApi
{
    public static IEndpointRouteBuilder MapGatewaySettingsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/servers/{serverName}/gateway").WithTags("Gateway").RequireAuthorization();
        group.MapGet("/", Get);
        group.MapPut("/", Put);
        return app;
    }

    public sealed record CredentialDocument(string? Header, string? Value);
    public sealed record SettingsRequest(string? Tokenizer, CredentialDocument? Credential, bool? RemoveCredential);
    public sealed record SettingsResponse(string Server, string Tokenizer, string? CredentialHeader, bool CredentialConfigured, string GatewayUrl);

    /// <summary>An RFC 9110 field name (a token). <c>\z</c>, not <c>$</c>, so a trailing newline does not match.</summary>
    [GeneratedRegex(@"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}\z")]
    private static partial Regex HeaderName();

    /// <summary>An RFC 9110 field value: visible ASCII with inner spaces or tabs, nothing the HTTP client would refuse to send.</summary>
    [GeneratedRegex(@"\A[\x21-\x7E](?:[\x20-\x7E\t]*[\x21-\x7E])?\z")]
    private static partial Regex HeaderValue();

    /// <summary>
    /// Names the gateway cannot forward as a credential: the HTTP framing and hop-by-hop headers, content headers
    /// (they belong to the body, and setting one breaks every request), MCP's own transport headers (the gateway
    /// has already checked them against the body), and the headers the gateway itself strips or relies on.
    /// Authorization stays allowed: it is how a publisher's bearer token reaches its upstream.
    /// </summary>
    private static readonly FrozenSet<string> ReservedHeaders = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "host", "connection", "keep-alive", "upgrade", "te", "trailer", "transfer-encoding", "expect",
        "proxy-authorization", "proxy-authenticate", "proxy-connection",
        "content-length", "content-type", "content-encoding", "content-range", "content-language", "content-location",
        "content-disposition", "content-md5", "expires", "last-modified", "allow",
        "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id",
        "accept", "accept-encoding", "origin");

    /// <summary>Why a credential header name cannot be used, or null if it can.</summary>
    private static string? RefuseHeaderName(string? name)
    {
        if (name is null || !HeaderName().IsMatch(name))
        {
            return "header must be an HTTP header name of 1 to 100 letters, digits or !#$%&'*+-.^_`|~ (e.g. Authorization or X-Api-Key)";
        }

        // The runtime's own view as a last word: it throws on content headers it knows and we might not list.
        using var probe = new HttpRequestMessage();
        if (ReservedHeaders.Contains(name) || name.StartsWith("proxy-", StringComparison.OrdinalIgnoreCase) || !probe.Headers.TryAddWithoutValidation(name, "x"))
        {
            return $"{name} is an HTTP framing, content, proxy or MCP header the gateway manages itself; use e.g. Authorization or X-Api-Key";
        }

        return null;
    }

    private static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> Get(string serverName, ClaimsPrincipal caller, MarketplaceDb db, RegistryQueries queries, CancellationToken ct)
    {
        var name = Uri.UnescapeDataString(serverName);
        var listing = await db.Listings.AsNoTracking().FirstOrDefaultAsync(l => l.ServerName == name, ct);
        if (listing is null)
        {
            return Problems.NotFound("Server not found");
        }

        if (listing.OwnerId != caller.GetUserId() && !caller.IsAdmin())
        {
            return Problems.Forbidden("only the listing's owner can see its gateway settings");
        }

        return TypedResults.Ok(ToResponse(listing, queries));
    }

    private static async Task<Results<Ok<SettingsResponse>, ProblemHttpResult>> Put(
        string serverName, SettingsRequest request, ClaimsPrincipal caller, MarketplaceDb db, SecretBox secrets, RegistryCache cache, RegistryQueries queries, TimeProvider clock, CancellationToken ct)
    {
        var name = Uri.UnescapeDataString(serverName);
        var listing = await db.Listings.FirstOrDefaultAsync(l => l.ServerName == name, ct);
        if (listing is null)
        {
            return Problems.NotFound("Server not found");
        }

        if (listing.OwnerId != caller.GetUserId() && !caller.IsAdmin())
        {
            return Problems.Forbidden("only the listing's owner can change its gateway settings");
        }

        var errors = new List<FieldError>();
        if (request.Tokenizer is not null && !Tokenizers.IsSupported(request.Tokenizer))
        {
            errors.Add(new("body.tokenizer", $"tokenizer must be one of: {string.Join(", ", Tokenizers.Supported)}", request.Tokenizer));
        }

        if (request.Credential is { } credential)
        {
            if (RefuseHeaderName(credential.Header) is { } problem)
            {
                errors.Add(new("body.credential.header", problem, credential.Header));
            }

            // The value is a secret: never echoed back in the error.
            if (credential.Value is null || credential.Value.Length > 4096 || !HeaderValue().IsMatch(credential.Value))
            {
                errors.Add(new("body.credential.value", "value is required: at most 4096 printable ASCII characters (spaces and tabs only between them, no line breaks)"));
            }

            if (request.RemoveCredential == true)
            {
                errors.Add(new("body.removeCredential", "send either a credential or removeCredential, not both"));
            }
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        if (request.Tokenizer is not null)
        {
            listing.Tokenizer = request.Tokenizer;
        }

        if (request.Credential is { } c)
        {
            listing.UpstreamHeaderName = c.Header;
            listing.UpstreamHeaderSecret = secrets.Seal(c.Value!);
        }
        else if (request.RemoveCredential == true)
        {
            listing.UpstreamHeaderName = null;
            listing.UpstreamHeaderSecret = null;
        }

        listing.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        await cache.InvalidateAsync(ct);
        return TypedResults.Ok(ToResponse(listing, queries));
    }

    private static SettingsResponse ToResponse(Listing listing, RegistryQueries queries) =>
        new(listing.ServerName, listing.Tokenizer, listing.UpstreamHeaderName, listing.UpstreamHeaderSecret is not null, queries.GatewayUrl(listing.ServerName));
}
