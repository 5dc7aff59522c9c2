using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests;

/// <summary>The embedded default's demo data and the host's own MCP server.</summary>
public sealed class DemoTests : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(configure: s => s["Demo:Seed"] = "true");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task DemoSeed_ListsTheDemoServerWithUsagePricingAndImportsTheRegistrySeed()
    {
        var client = _app.CreateClient();

        var demo = await client.GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Uri.EscapeDataString("com.ultrarepo.alice/text-tools")}/versions/latest");
        var page = await client.GetFromJsonAsync<JsonNode>("/v0.1/servers?limit=100");

        Assert.Equal("streamable-http", (string?)demo!["server"]!["remotes"]![0]!["type"]);
        Assert.EndsWith("/demo/mcp", (string?)demo["server"]!["remotes"]![0]!["url"]);
        Assert.Equal("graduated", (string?)demo["_meta"]!["com.ultrarepo/marketplace"]!["pricing"]!["usage"]!["chargeModel"]);
        Assert.Equal(100, page!["servers"]!.AsArray().Count);
        Assert.NotNull((string?)page["metadata"]!["nextCursor"]);
    }

    [Fact]
    public async Task DemoAccounts_CanSignIn()
    {
        var client = _app.CreateClient();

        var response = await client.PostAsJsonAsync("/api/auth/login", new { email = "bob@example.com", password = UltraRepo.Demo.DemoData.Password });

        Assert.True(response.IsSuccessStatusCode);
    }

    [Fact]
    public async Task DemoMcpServer_AnswersAnMcpClient()
    {
        var transport = new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = new Uri(_app.Server.BaseAddress, "/demo/mcp"), TransportMode = HttpTransportMode.StreamableHttp },
            _app.CreateClient(),
            ownsHttpClient: true);
        await using var client = await McpClient.CreateAsync(transport);

        var tools = await client.ListToolsAsync();
        var stats = await client.CallToolAsync("text_stats", new Dictionary<string, object?> { ["text"] = "one two two. three three three!" });
        var json = await client.CallToolAsync("format_json", new Dictionary<string, object?> { ["json"] = "{\"a\":[1,2]}", ["minify"] = true });

        Assert.Contains(tools, t => t.Name == "generate_text");
        Assert.Equal(6, stats.StructuredContent!.Value.GetProperty("words").GetInt32());
        Assert.Equal("three", stats.StructuredContent.Value.GetProperty("topWords")[0].GetProperty("word").GetString());
        Assert.Equal("{\"a\":[1,2]}", ((TextContentBlock)json.Content[0]).Text);
    }
}
