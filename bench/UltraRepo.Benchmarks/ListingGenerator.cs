using System.Text.Json;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Benchmarks;

/// <summary>Deterministic, realistic-looking listings (names, descriptions, packages and remotes) for load tests.</summary>
public static class ListingGenerator
{
    private static readonly string[] Topics = ["weather", "github", "postgres", "slack", "calendar", "filesystem", "search", "browser", "jira", "notion", "stripe", "docker", "kubernetes", "email", "maps", "translate", "pdf", "images", "finance", "crypto"];
    private static readonly string[] Verbs = ["Query", "Manage", "Automate", "Inspect", "Search", "Summarize", "Monitor", "Sync"];
    private static readonly string[] Registries = ["npm", "pypi", "oci", "nuget"];

    public static IEnumerable<ServerJson> Generate(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var topic = Topics[i % Topics.Length];
            var owner = $"org{i / 7:D5}";
            var name = $"io.github.{owner}/{topic}-mcp-{i:D5}";
            var remote = i % 5 == 0;
            yield return new ServerJson
            {
                Schema = ServerJsonSerializer.CurrentSchema,
                Name = name,
                Title = $"{char.ToUpperInvariant(topic[0])}{topic[1..]} tools {i}",
                Description = $"{Verbs[i % Verbs.Length]} {topic} data from your assistant: fast, typed tools for {Topics[(i * 7) % Topics.Length]}.",
                Version = $"1.{i % 10}.{i % 3}",
                Repository = new Repository { Url = $"https://github.com/{owner}/{topic}-mcp-{i:D5}", Source = "github" },
                Packages = remote ? null :
                [
                    new Package
                    {
                        RegistryType = Registries[i % Registries.Length],
                        Identifier = $"{topic}-mcp-{i:D5}",
                        Version = "1.0.0",
                        Transport = new Transport { Type = "stdio" },
                        EnvironmentVariables = [new Argument { Name = $"{topic.ToUpperInvariant()}_API_KEY", IsSecret = true, Description = "API key" }],
                    },
                ],
                Remotes = remote ? [new Transport { Type = "streamable-http", Url = $"https://mcp-{i:D5}.{topic}.example.com/mcp" }] : null,
            };
        }
    }

    public static async Task WriteAsync(int count, string file)
    {
        await using var stream = File.Create(file);
        await using var writer = new Utf8JsonWriter(stream);
        writer.WriteStartObject();
        writer.WriteStartArray("servers");
        foreach (var server in Generate(count))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("server");
            JsonSerializer.Serialize(writer, server, ServerJsonSerializer.Options);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartObject("metadata");
        writer.WriteNumber("count", count);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
