using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>Exact token counts and usage events for traffic through the gateway (two real hosts).</summary>
public sealed class GatewayMeteringTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/upstream";
    private static readonly Tokenizer O200k = TiktokenTokenizer.CreateForEncoding("o200k_base");
    private GatewayTestbed _bed = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        await _bed.SetPricingAsync(Server, new
        {
            model = "usage",
            currency = "USD",
            usage = new
            {
                chargeModel = "graduated",
                tiers = new object[] { new { upTo = 100, pricePer1k = "2" }, new { upTo = (long?)null, pricePer1k = "1" } },
            },
        });
        await _bed.SubscribeAsync(Server);
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private static int Tokens(string text) => O200k.CountTokens(text);

    [Fact]
    public async Task ToolCall_CountsInputAndOutputTokensExactly()
    {
        var session = await _bed.InitializeAsync(Server);
        const string arguments = """{"text":"The quick brown fox jumps over the lazy dog. Ünïcödé ✓"}""";

        var response = await _bed.PostRpcAsync(Server, $$$"""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{{{arguments}}}}}""",
            configure: r => GatewayTestbed.WithSession(r, session));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("jumps over the lazy dog", body);
        var call = (await _bed.EventsAsync()).Single(e => (string?)e["method"] == "tools/call");
        Assert.Equal(Tokens("echo") + Tokens(arguments), (long)call["inputTokens"]!);
        Assert.Equal(Tokens("The quick brown fox jumps over the lazy dog. Ünïcödé ✓"), (long)call["outputTokens"]!);
        Assert.Equal("echo", (string?)call["target"]);
        Assert.Equal("7", (string?)call["jsonRpcId"]);
        Assert.Equal(session, (string?)call["sessionId"]);
        Assert.Equal("1.0.0", (string?)call["version"]);
        Assert.Equal("ok", (string?)call["outcome"]);
        Assert.Equal("o200k_base", (string?)call["tokenizer"]);
    }

    [Fact]
    public async Task EveryExchange_IsOneEventWithMarginalCostThatSumsToTheRatedMonth()
    {
        await using var client = await _bed.ConnectAsync(Server);
        for (var i = 0; i < 6; i++)
        {
            await client.CallToolAsync("payload", new Dictionary<string, object?> { ["bytes"] = 300, ["kind"] = "prose" });
        }

        var events = await _bed.EventsAsync();
        var calls = events.Where(e => (string?)e["method"] == "tools/call").ToList();
        Assert.Equal(6, calls.Count);
        // Graduated: the first 100 tokens of the month at 2/1K, the rest at 1/1K, one event at a time.
        var billable = events.Where(e => (string?)e["outcome"] is "ok" or "rpc_error").ToList();
        var total = billable.Sum(e => (long)e["totalTokens"]!);
        var rated = Math.Min(total, 100) * 2m / 1000 + Math.Max(0, total - 100) * 1m / 1000;
        Assert.Equal(rated, billable.Sum(e => decimal.Parse((string)e["cost"]!, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(total > 100, "the test must cross the tier boundary");
    }

    [Fact]
    public async Task ProgressNotifications_PassThroughAndCountAsOutput()
    {
        await using var client = await _bed.ConnectAsync(Server);
        var received = 0;
        await using var handler = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (_, _) =>
        {
            Interlocked.Increment(ref received);
            return ValueTask.CompletedTask;
        });

        var result = await client.CallToolAsync("progress", new Dictionary<string, object?> { ["steps"] = 3, ["delayMs"] = 10 },
            progress: new Progress<ProgressNotificationValue>(_ => { }));

        Assert.Equal("done", ((TextContentBlock)result.Content[0]).Text);
        for (var i = 0; i < 50 && Volatile.Read(ref received) < 3; i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(3, Volatile.Read(ref received));
        var call = (await _bed.EventsAsync()).Single(e => (string?)e["target"] == "progress");
        // The result's text plus each progress notification's params JSON.
        Assert.True((long)call["outputTokens"]! > Tokens("done") + 3 * 5, call.ToJsonString());
    }

    [Fact]
    public async Task SamplingRequestedByTheServer_ReachesTheClientAndItsAnswerIsMetered()
    {
        var options = new McpClientOptions
        {
            Handlers = new McpClientHandlers
            {
#pragma warning disable MCP9005
                SamplingHandler = (request, progress, ct) => ValueTask.FromResult(new CreateMessageResult
                {
                    Model = "test-model",
                    Role = Role.Assistant,
                    Content = [new TextContentBlock { Text = "sampled answer from the client" }],
                }),
#pragma warning restore MCP9005
            },
        };
        await using var client = await _bed.ConnectAsync(Server, options: options);

        var result = await client.CallToolAsync("sample", new Dictionary<string, object?> { ["prompt"] = "say something" });

        Assert.Contains("sampled answer from the client", ((TextContentBlock)result.Content[0]).Text);
        var events = await _bed.EventsAsync();
        var answer = events.Single(e => (string?)e["method"] == "response");
        Assert.Equal(Tokens("sampled answer from the client"), (long)answer["inputTokens"]!);
        Assert.Equal(202, (int)answer["httpStatus"]!);
    }

    [Fact]
    public async Task ElicitationRequestedByTheServer_RoundTripsThroughTheGateway()
    {
        var options = new McpClientOptions
        {
            Handlers = new McpClientHandlers
            {
                ElicitationHandler = (request, ct) => ValueTask.FromResult(new ElicitResult
                {
                    Action = "accept",
                    Content = new Dictionary<string, System.Text.Json.JsonElement> { ["answer"] = System.Text.Json.JsonDocument.Parse("\"blue\"").RootElement },
                }),
            },
        };
        await using var client = await _bed.ConnectAsync(Server, options: options);

        var result = await client.CallToolAsync("elicit", new Dictionary<string, object?> { ["question"] = "favourite colour?" });

        Assert.Contains("accepted", ((TextContentBlock)result.Content[0]).Text);
    }

    [Fact]
    public async Task PromptsResourcesAndLists_AreMeteredByTheirRules()
    {
        await using var client = await _bed.ConnectAsync(Server);

        var prompt = await client.GetPromptAsync("greet", new Dictionary<string, object?> { ["name"] = "Ada" });
        var resource = await client.ReadResourceAsync("test://readme");
        await client.ListToolsAsync();

        var events = await _bed.EventsAsync();
        var get = events.Single(e => (string?)e["method"] == "prompts/get");
        Assert.Equal("greet", (string?)get["target"]);
        Assert.Equal(Tokens("greet") + Tokens("""{"name":"Ada"}"""), (long)get["inputTokens"]!);
        var promptText = ((TextContentBlock)prompt.Messages[0].Content).Text;
        Assert.Equal(Tokens(promptText) + (prompt.Description is null ? 0 : Tokens(prompt.Description)), (long)get["outputTokens"]!);
        var read = events.Single(e => (string?)e["method"] == "resources/read");
        Assert.Equal("test://readme", (string?)read["target"]);
        Assert.Equal(Tokens("test://readme"), (long)read["inputTokens"]!);
        Assert.Equal(Tokens(((TextResourceContents)resource.Contents[0]).Text), (long)read["outputTokens"]!);
        Assert.True((long)events.Single(e => (string?)e["method"] == "tools/list")["outputTokens"]! > 50);
    }

    [Fact]
    public async Task BinaryContent_IsCountedByTheDocumentedRule()
    {
        await using var client = await _bed.ConnectAsync(Server);

        await client.CallToolAsync("image", new Dictionary<string, object?> { ["bytes"] = 1280 });

        var call = (await _bed.EventsAsync()).Single(e => (string?)e["target"] == "image");
        Assert.Equal(10, (long)call["outputTokens"]!); // ⌈1280 bytes ÷ 128⌉
    }

    [Fact]
    public async Task ToolFailure_IsAResultAndJsonRpcErrorIsRpcError()
    {
        var session = await _bed.InitializeAsync(Server);

        await (await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fail","arguments":{"message":"boom"}}}""", configure: r => GatewayTestbed.WithSession(r, session))).Content.ReadAsStringAsync();
        await (await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool"}}""", configure: r => GatewayTestbed.WithSession(r, session))).Content.ReadAsStringAsync();

        var events = await _bed.EventsAsync();
        Assert.Equal("ok", (string?)events.Single(e => (string?)e["target"] == "fail")["outcome"]);
        var unknown = events.Single(e => (string?)e["target"] == "no_such_tool");
        Assert.Equal("rpc_error", (string?)unknown["outcome"]);
        Assert.True((long)unknown["outputTokens"]! > 0);
    }

    [Fact]
    public async Task Cl100kListing_IsCountedWithCl100k()
    {
        var settings = await _bed.Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(Server)}/gateway", new { tokenizer = "cl100k_base" });
        Assert.Equal(HttpStatusCode.OK, settings.StatusCode);
        await _bed.WaitForCatalogAsync(Server, l => l.Tokenizer == "cl100k_base");
        var session = await _bed.InitializeAsync(Server);
        const string text = "naïve café résumé — 東京 🚀 tokenizers differ";

        var body = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + text + "\"}}}";
        await (await _bed.PostRpcAsync(Server, body, configure: r => GatewayTestbed.WithSession(r, session))).Content.ReadAsStringAsync();

        var call = (await _bed.EventsAsync()).Single(e => (string?)e["jsonRpcId"] == "9");
        var cl100k = TiktokenTokenizer.CreateForEncoding("cl100k_base");
        Assert.Equal("cl100k_base", (string?)call["tokenizer"]);
        Assert.Equal(cl100k.CountTokens(text), (long)call["outputTokens"]!);
        Assert.NotEqual(O200k.CountTokens(text), cl100k.CountTokens(text));
    }

    [Fact]
    public async Task UsageEvents_AreOnlyTheCallersOwn()
    {
        await using (var client = await _bed.ConnectAsync(Server))
        {
            await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "mine" });
        }

        var stranger = await _bed.App.CreateUserAsync("stranger");
        var theirs = await _bed.EventsAsync(stranger);

        Assert.Empty(theirs);
        Assert.NotEmpty(await _bed.EventsAsync());
    }
}
