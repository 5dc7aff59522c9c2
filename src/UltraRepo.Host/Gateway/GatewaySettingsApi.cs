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

    [GeneratedRegex("^[A-Za-z0-9-]{1,100}\\z")]
    private static partial Regex HeaderName();

    private static readonly string[] ReservedHeaders = ["host", "content-length", "content-type", "transfer-encoding", "connection", "mcp-session-id", "mcp-protocol-version", "last-event-id", "accept"];

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
            if (credential.Header is null || !HeaderName().IsMatch(credential.Header) || ReservedHeaders.Contains(credential.Header.ToLowerInvariant()))
            {
                errors.Add(new("body.credential.header", "header must be a plain header name (e.g. Authorization or X-Api-Key) that MCP itself does not use", credential.Header));
            }

            if (string.IsNullOrEmpty(credential.Value) || credential.Value.Length > 4096 || credential.Value.Any(char.IsControl))
            {
                errors.Add(new("body.credential.value", "value is required, at most 4096 characters, without control characters"));
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
