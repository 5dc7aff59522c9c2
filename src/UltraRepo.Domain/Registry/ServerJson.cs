using System.Text.Json;
using System.Text.Json.Serialization;

namespace UltraRepo.Domain.Registry;

// server.json as defined by modelcontextprotocol/registry docs/reference/server-json/server.schema.json.
// Unknown fields are dropped, as the official registry does; registry metadata never lives here.

public sealed record ServerJson
{
    [JsonPropertyName("$schema")] public string? Schema { get; init; }
    public string? Name { get; init; }
    public string? Description { get; init; }
    public string? Title { get; init; }
    public Repository? Repository { get; init; }
    public string? Version { get; init; }
    public string? WebsiteUrl { get; init; }
    public List<Icon>? Icons { get; init; }
    public List<Package>? Packages { get; init; }
    public List<Transport>? Remotes { get; init; }
    [JsonPropertyName("_meta")] public Dictionary<string, JsonElement>? Meta { get; init; }

    [JsonIgnore] public string Namespace => Name is null ? "" : Name[..Math.Max(0, Name.IndexOf('/'))];
}

public sealed record Repository
{
    public string? Url { get; init; }
    public string? Source { get; init; }
    public string? Id { get; init; }
    public string? Subfolder { get; init; }
}

public sealed record Icon
{
    public string? Src { get; init; }
    public string? MimeType { get; init; }
    public List<string>? Sizes { get; init; }
    public string? Theme { get; init; }
}

public sealed record Package
{
    public string? RegistryType { get; init; }
    public string? RegistryBaseUrl { get; init; }
    public string? Identifier { get; init; }
    public string? Version { get; init; }
    public string? FileSha256 { get; init; }
    public string? RuntimeHint { get; init; }
    public Transport? Transport { get; init; }
    public List<Argument>? RuntimeArguments { get; init; }
    public List<Argument>? PackageArguments { get; init; }
    public List<Argument>? EnvironmentVariables { get; init; }
}

/// <summary>A package transport (stdio, streamable-http, sse) or a remote (streamable-http, sse).</summary>
public sealed record Transport
{
    public string? Type { get; init; }
    public string? Url { get; init; }
    public List<Argument>? Headers { get; init; }
    public Dictionary<string, Argument>? Variables { get; init; }
}

/// <summary>
/// Input, positional/named argument and key-value input share one shape; the schema tells them apart
/// by <c>type</c> (positional/named) or by the context (headers, environment variables, variables).
/// </summary>
public sealed record Argument
{
    public string? Type { get; init; }
    public string? Name { get; init; }
    public string? ValueHint { get; init; }
    public bool? IsRepeated { get; init; }
    public string? Description { get; init; }
    public bool? IsRequired { get; init; }
    public string? Format { get; init; }
    public string? Value { get; init; }
    public bool? IsSecret { get; init; }
    public string? Default { get; init; }
    public string? Placeholder { get; init; }
    public List<string>? Choices { get; init; }
    public Dictionary<string, Argument>? Variables { get; init; }
}

public static class ServerJsonSerializer
{
    public const string CurrentSchema = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
    public const string PublisherProvidedKey = "io.modelcontextprotocol.registry/publisher-provided";
    public const string OfficialMetaKey = "io.modelcontextprotocol.registry/official";

    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,
        // Served as application/json only, never inlined into HTML, so '&' and '+' stay readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static ServerJson Deserialize(string json) =>
        JsonSerializer.Deserialize<ServerJson>(json, Options) ?? throw new JsonException("server.json must be an object");

    public static ServerJson Deserialize(JsonElement json) =>
        json.Deserialize<ServerJson>(Options) ?? throw new JsonException("server.json must be an object");

    public static string Serialize(ServerJson server) => JsonSerializer.Serialize(server, Options);
}
