using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Registry;
using UltraRepo.Http;

namespace UltraRepo.Registry;

/// <summary>
/// The official MCP Registry API (modelcontextprotocol/registry docs/reference/api/openapi.yaml),
/// served under both <c>/v0</c> and <c>/v0.1</c>.
/// </summary>
public static class RegistryApi
{
    private const int MaxServerJsonBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapRegistryApi(this IEndpointRouteBuilder app)
    {
        foreach (var prefix in new[] { "/v0", "/v0.1" })
        {
            var group = app.MapGroup(prefix).WithTags("Registry");
            group.MapGet("/servers", List).CacheOutput(RegistryCache.Policy);
            group.MapGet("/servers/{serverName}/versions", Versions).CacheOutput(RegistryCache.Policy);
            group.MapGet("/servers/{serverName}/versions/{version}", Version).CacheOutput(RegistryCache.Policy);
            group.MapPost("/publish", Publish).RequireAuthorization().WithMetadata(new RequestSizeLimitAttribute(MaxServerJsonBytes));
            group.MapPatch("/servers/{serverName}/versions/{version}/status", PatchVersionStatus).RequireAuthorization();
            group.MapPatch("/servers/{serverName}/status", PatchServerStatus).RequireAuthorization();
            group.MapGet("/health", () => TypedResults.Ok(new { status = "ok" }));
            group.MapGet("/ping", () => TypedResults.Ok(new { pong = true }));
        }

        return app;
    }

    private static async Task<IResult> List(
        RegistryQueries queries, CancellationToken ct,
        [FromQuery] string? cursor = null, [FromQuery] string? limit = null, [FromQuery] string? search = null,
        [FromQuery(Name = "updated_since")] string? updatedSince = null, [FromQuery] string? version = null,
        [FromQuery(Name = "include_deleted")] string? includeDeleted = null)
    {
        var (query, error) = RegistryQueries.ParseListQuery(cursor, limit, search, updatedSince, version, includeDeleted);
        if (query is null)
        {
            return Problems.Validation([error!]);
        }

        var page = await queries.ListAsync(query, ct);
        return new JsonWriterResult(w => WriteList(w, page.Entries, page.Marketplace, page.NextCursor));
    }

    private static async Task<IResult> Versions(string serverName, RegistryQueries queries, CancellationToken ct, [FromQuery(Name = "include_deleted")] bool includeDeleted = false)
    {
        var (versions, marketplace) = await queries.VersionsAsync(Uri.UnescapeDataString(serverName), includeDeleted, ct);
        return versions.Count == 0
            ? Problems.NotFound("Server not found")
            : new JsonWriterResult(w => WriteList(w, versions, marketplace, null));
    }

    private static async Task<IResult> Version(string serverName, string version, RegistryQueries queries, CancellationToken ct, [FromQuery(Name = "include_deleted")] bool includeDeleted = false)
    {
        var (entry, marketplace) = await queries.VersionAsync(Uri.UnescapeDataString(serverName), Uri.UnescapeDataString(version), includeDeleted, ct);
        return entry is null
            ? Problems.NotFound("Server not found")
            : new JsonWriterResult(w => ServerResponseWriter.WriteServer(w, entry, marketplace));
    }

    private static async Task<IResult> Publish(HttpRequest request, ClaimsPrincipal caller, PublishServer publisher, RegistryQueries queries, CancellationToken ct)
    {
        ServerJson? document;
        try
        {
            document = await JsonSerializer.DeserializeAsync<ServerJson>(request.Body, ServerJsonSerializer.Options, ct);
        }
        catch (JsonException e)
        {
            return Problems.Validation(RequestBodyErrors.Location(e.Path), RequestBodyErrors.Describe(e));
        }

        if (document is null)
        {
            return Problems.Validation("body", "request body must be a server.json object");
        }

        var outcome = await publisher.PublishAsync(document, caller, ct);
        switch (outcome)
        {
            case PublishOutcome.Published published:
                var marketplace = await queries.MarketplaceInfoAsync([published.Entry], ct);
                return new JsonWriterResult(w => ServerResponseWriter.WriteServer(w, published.Entry, marketplace[published.Entry.ServerName]));
            case PublishOutcome.Invalid invalid:
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, "Unprocessable Entity", "validation failed", invalid.Errors.ToList());
            case PublishOutcome.Forbidden forbidden:
                return Problems.Forbidden(forbidden.Message);
            case PublishOutcome.Duplicate duplicate:
                return Problems.Conflict(duplicate.Message, "body.version");
            case PublishOutcome.Rejected rejected:
                return Problems.Create(StatusCodes.Status400BadRequest, "Bad Request", "Failed to publish server", [new FieldError(rejected.Location, rejected.Message)]);
            default:
                throw new InvalidOperationException($"unexpected outcome {outcome}");
        }
    }

    private static Task<IResult> PatchVersionStatus(string serverName, string version, StatusRequest body, ClaimsPrincipal caller, UpdateServerStatus updater, RegistryQueries queries, CancellationToken ct) =>
        PatchStatus(Uri.UnescapeDataString(serverName), Uri.UnescapeDataString(version), body, caller, updater, queries, ct);

    private static Task<IResult> PatchServerStatus(string serverName, StatusRequest body, ClaimsPrincipal caller, UpdateServerStatus updater, RegistryQueries queries, CancellationToken ct) =>
        PatchStatus(Uri.UnescapeDataString(serverName), null, body, caller, updater, queries, ct);

    private static async Task<IResult> PatchStatus(string serverName, string? version, StatusRequest body, ClaimsPrincipal caller, UpdateServerStatus updater, RegistryQueries queries, CancellationToken ct)
    {
        var outcome = await updater.UpdateAsync(serverName, version, body, caller, ct);
        switch (outcome)
        {
            case StatusOutcome.Updated updated:
                var marketplace = await queries.MarketplaceInfoAsync(updated.Entries, ct);
                if (version is not null)
                {
                    return new JsonWriterResult(w => ServerResponseWriter.WriteServer(w, updated.Entries[0], marketplace[serverName]));
                }

                return new JsonWriterResult(w =>
                {
                    w.WriteStartObject();
                    w.WriteNumber("updatedCount", updated.Entries.Count);
                    w.WriteStartArray("servers");
                    foreach (var entry in updated.Entries)
                    {
                        ServerResponseWriter.WriteServer(w, entry, marketplace[serverName]);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                });
            case StatusOutcome.Invalid invalid:
                return Problems.Validation([invalid.Error]);
            case StatusOutcome.NoChange noChange:
                return Problems.Create(StatusCodes.Status400BadRequest, "Bad Request", noChange.Message, [new FieldError("body.status", noChange.Message)]);
            case StatusOutcome.NotFound notFound:
                return Problems.NotFound(notFound.Message);
            case StatusOutcome.Forbidden forbidden:
                return Problems.Forbidden(forbidden.Message);
            default:
                throw new InvalidOperationException($"unexpected outcome {outcome}");
        }
    }

    private static void WriteList(Utf8JsonWriter w, IReadOnlyList<RegistryEntry> entries, IReadOnlyDictionary<string, MarketplaceInfo> marketplace, string? nextCursor)
    {
        w.WriteStartObject();
        w.WriteStartArray("servers");
        foreach (var entry in entries)
        {
            ServerResponseWriter.WriteServer(w, entry, marketplace.GetValueOrDefault(entry.ServerName));
        }

        w.WriteEndArray();
        w.WriteStartObject("metadata");
        if (nextCursor is not null)
        {
            w.WriteString("nextCursor", nextCursor);
        }

        w.WriteNumber("count", entries.Count);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
