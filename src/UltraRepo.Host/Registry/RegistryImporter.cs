using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Registry;

public sealed record ImportedEntry(string? Name, string? Version, string Result, IReadOnlyList<FieldError> Reasons);

public sealed record ImportReport(int Imported, int Unchanged, int Updated, int Rejected, IReadOnlyList<ImportedEntry> Entries);

/// <summary>
/// Subregistry import: reads an official list response (a file or an upstream registry paged with
/// <c>cursor</c>) and stores each entry that passes our validation. Re-running is idempotent: identical
/// entries are "unchanged", changed upstream status or content of imported entries is "updated", and
/// every entry that fails validation is "rejected" with its reasons; nothing stops the run.
/// </summary>
public sealed class RegistryImporter(MarketplaceDb db, PublishServer publisher, RegistryWriteLock writeLock, RegistryCache cache, IHttpClientFactory http, IOptions<RegistryOptions> options, TimeProvider clock)
{
    public const string Imported = "imported";
    public const string Unchanged = "unchanged";
    public const string Updated = "updated";
    public const string Rejected = "rejected";

    /// <summary>An upstream import reads at most this many pages of 100 (a registry that never ends its cursor chain stops here).</summary>
    public const int MaxPages = 1000;

    public static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Same cap as <c>PATCH …/status</c>.</summary>
    public const int MaxStatusMessageLength = 500;

    public async Task<ImportReport> ImportAsync(Stream listResponse, CancellationToken ct)
    {
        using var document = await JsonDocument.ParseAsync(listResponse, cancellationToken: ct);
        return await ImportAsync(Items(document.RootElement), ct);
    }

    public async Task<ImportReport> ImportFromUpstreamAsync(Uri registry, CancellationToken ct) =>
        await ImportAsync(await DownloadAsync(registry, ct), ct);

    private async Task<ImportReport> ImportAsync(IEnumerable<JsonElement> items, CancellationToken ct)
    {
        var entries = new List<ImportedEntry>();
        foreach (var item in items)
        {
            try
            {
                entries.Add(await ImportOneAsync(item, ct));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
            {
                // One entry the store cannot take (e.g. text that cannot be written back as JSON) is rejected; the run goes on.
                var server = item.ValueKind == JsonValueKind.Object && item.TryGetProperty("server", out var s) ? s : default;
                entries.Add(new(Text(server, "name"), Text(server, "version"), Rejected, [new("server", e.Message)]));
            }
        }

        await cache.InvalidateAsync(ct);

        return new ImportReport(
            entries.Count(e => e.Result == Imported), entries.Count(e => e.Result == Unchanged),
            entries.Count(e => e.Result == Updated), entries.Count(e => e.Result == Rejected), entries);
    }

    private async Task<ImportedEntry> ImportOneAsync(JsonElement item, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("server", out var serverElement))
        {
            return new(null, null, Rejected, [new("servers[]", "entry has no \"server\" object")]);
        }

        ServerJson server;
        try
        {
            server = ServerJsonSerializer.Deserialize(serverElement);
        }
        catch (JsonException e)
        {
            return new(Text(serverElement, "name"), Text(serverElement, "version"), Rejected, [new(RequestBodyLocation(e.Path), e.Message)]);
        }

        var errors = ServerJsonValidator.Validate(server, options.Value.AllowPrivateRemotes);
        if (errors.Count > 0)
        {
            return new(server.Name, server.Version, Rejected, errors);
        }

        var upstream = UpstreamMeta.Read(item);
        if (upstream.StatusMessage?.Length > MaxStatusMessageLength)
        {
            return new(server.Name, server.Version, Rejected, [new("_meta.io.modelcontextprotocol.registry/official.statusMessage", $"expected length <= {MaxStatusMessageLength}")]);
        }

        var normalized = ServerJsonValidator.Normalize(server);
        var existing = await db.RegistryEntries.FirstOrDefaultAsync(e => e.ServerName == normalized.Name && e.Version == normalized.Version, ct);
        if (existing is null)
        {
            var owner = await db.Listings.Where(l => l.ServerName == normalized.Name).Select(l => l.OwnerId).FirstOrDefaultAsync(ct);
            if (owner is not null)
            {
                return new(server.Name, server.Version, Rejected, [new("server.name", "this name belongs to a publisher on this marketplace; imports never write into it")]);
            }

            var outcome = await publisher.StoreAsync(normalized, null, EntryOrigin.Imported, ct, upstream.PublishedAt);
            if (outcome is not PublishOutcome.Published published)
            {
                var reason = outcome switch
                {
                    PublishOutcome.Rejected r => new FieldError(r.Location, r.Message),
                    PublishOutcome.Duplicate d => new FieldError("server.version", d.Message),
                    _ => new FieldError("server", outcome.ToString()),
                };
                return new(server.Name, server.Version, Rejected, [reason]);
            }

            if (upstream.Status is not null && upstream.Status != ServerStatus.Active)
            {
                await ApplyStatusAsync(published.Entry.ServerName, published.Entry.Version, upstream, ct);
            }

            return new(server.Name, server.Version, Imported, []);
        }

        if (existing.Origin != EntryOrigin.Imported)
        {
            return new(server.Name, server.Version, Rejected, [new("server.version", "a publisher on this marketplace published this version; imports never overwrite it")]);
        }

        var json = ServerJsonSerializer.Serialize(normalized);
        var statusChanged = upstream.Status is not null && (upstream.Status != existing.Status || upstream.StatusMessage != existing.StatusMessage);
        if (json == existing.ServerJson && !statusChanged)
        {
            return new(server.Name, server.Version, Unchanged, []);
        }

        if (json != existing.ServerJson)
        {
            // Imported entries mirror their upstream; the search index follows through its update trigger.
            existing.ServerJson = json;
            existing.Description = normalized.Description!;
            existing.Title = normalized.Title;
            existing.UpdatedAt = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync(ct);
        }

        if (statusChanged)
        {
            await ApplyStatusAsync(existing.ServerName, existing.Version, upstream, ct);
        }

        return new(server.Name, server.Version, Updated, []);
    }

    private async Task ApplyStatusAsync(string name, string version, UpstreamMeta upstream, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await using var _ = await writeLock.AcquireAsync(db, name, ct);
        var versions = await db.RegistryEntries.Where(e => e.ServerName == name).ToListAsync(ct);
        var entry = versions.Single(v => v.Version == version);
        var now = clock.GetUtcNow().UtcDateTime;
        if (entry.Status != upstream.Status)
        {
            entry.StatusChangedAt = now;
        }

        entry.Status = upstream.Status!;
        entry.StatusMessage = upstream.Status == ServerStatus.Active ? null : upstream.StatusMessage;
        entry.UpdatedAt = now;
        await LatestVersion.ApplyAsync(db, versions, ct);
        await tx.CommitAsync(ct);
    }

    private async Task<List<JsonElement>> DownloadAsync(Uri registry, CancellationToken ct)
    {
        var client = http.CreateClient(nameof(RegistryImporter));
        var items = new List<JsonElement>();
        string? cursor = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var baseUrl = registry.ToString().TrimEnd('/');
        for (var pages = 0; pages < MaxPages; pages++)
        {
            var url = $"{baseUrl}/v0.1/servers?limit=100" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            using var response = await client.GetAsync(url, ct);
            response.EnsureSuccessStatusCode();
            using var page = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(ct));
            var before = items.Count;
            items.AddRange(Items(page.RootElement).Select(e => e.Clone()));
            cursor = page.RootElement.TryGetProperty("metadata", out var meta) && meta.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String
                ? next.GetString()
                : null;
            // Stop when a page adds nothing, the chain ends, or the upstream repeats a cursor (it would loop forever).
            if (items.Count == before || string.IsNullOrEmpty(cursor) || !seen.Add(cursor))
            {
                break;
            }
        }

        return items;
    }

    private static JsonElement.ArrayEnumerator Items(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("servers", out var servers) || servers.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException("expected a registry list response: {\"servers\": [...], \"metadata\": {...}}");
        }

        return servers.EnumerateArray();
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string RequestBodyLocation(string? path) => string.IsNullOrEmpty(path) || path == "$" ? "server" : "server" + path[1..];

    private sealed record UpstreamMeta(string? Status, string? StatusMessage, DateTime? PublishedAt)
    {
        public static UpstreamMeta Read(JsonElement item)
        {
            if (!item.TryGetProperty("_meta", out var meta) || meta.ValueKind != JsonValueKind.Object
                || !meta.TryGetProperty(ServerJsonSerializer.OfficialMetaKey, out var official) || official.ValueKind != JsonValueKind.Object)
            {
                return new(null, null, null);
            }

            var status = Text(official, "status");
            DateTime? published = DateTimeOffset.TryParse(Text(official, "publishedAt"), CultureInfo.InvariantCulture, DateTimeStyles.None, out var p) ? p.UtcDateTime : null;
            return new(ServerStatus.IsValid(status) ? status : null, Text(official, "statusMessage"), published);
        }
    }
}
