using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>The test upstream works on its own, straight from the official client, so gateway failures point at the gateway.</summary>
public sealed class UpstreamMcpServerTests
{
    [Fact]
    public async Task ListTools_ReturnsEveryTestTool()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var tools = await client.ListToolsAsync();

        Assert.Equal(
            ["echo", "elicit", "fail", "image", "payload", "progress", "sample", "slow", "structured"],
            tools.Select(tool => tool.Name).Order());
    }

    [Fact]
    public async Task Echo_ReturnsTheText()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "héllo" });

        Assert.Equal("héllo", Text(result));
    }

    [Theory]
    [InlineData(0, "prose")]
    [InlineData(1000, "prose")]
    [InlineData(4097, "json")]
    [InlineData(65536, "code")]
    public async Task Payload_ReturnsExactlyTheRequestedUtf8Bytes(int bytes, string kind)
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var result = await client.CallToolAsync("payload", new Dictionary<string, object?> { ["bytes"] = bytes, ["kind"] = kind });

        Assert.Equal(bytes, Encoding.UTF8.GetByteCount(Text(result)));
        Assert.Equal(PayloadText.Create(bytes, kind), Text(result));
    }

    [Fact]
    public async Task Progress_NotificationsReachTheClient()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);
        // A session-level handler, because the client dispatches notifications concurrently and drops progress that it
        // handles after the call's response (the per-call IProgress is unregistered by then).
        var received = new ConcurrentQueue<float>();
        await using var handler = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
        {
            received.Enqueue(notification.Params!["progress"]!.GetValue<float>());
            return ValueTask.CompletedTask;
        });

        var result = await client.CallToolAsync(
            "progress", new Dictionary<string, object?> { ["steps"] = 3, ["delayMs"] = 10 }, progress: new Progress<ProgressNotificationValue>());

        Assert.Equal("done", Text(result));
        await Eventually.WaitUntilAsync(() => received.Count == 3, TimeSpan.FromSeconds(2));
        Assert.Equal([1f, 2f, 3f], received.Order());
    }

    [Fact]
    public async Task Sample_RoundTripsThroughTheClientSamplingHandler()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        string? prompt = null;
        var handlers = new McpClientHandlers
        {
#pragma warning disable MCP9005 // Sampling is deprecated in the newest spec but still part of the 2025 protocol the gateway relays.
            SamplingHandler = (request, _, _) =>
            {
                prompt = request!.Messages.Single().Content.OfType<TextContentBlock>().Single().Text;
                return ValueTask.FromResult(new CreateMessageResult
                {
                    Model = "test-model",
                    Role = Role.Assistant,
                    Content = [new TextContentBlock { Text = "sampled: " + prompt }],
                });
            },
#pragma warning restore MCP9005
        };
        await using var client = await ConnectAsync(upstream.StreamableEndpoint, handlers);

        var result = await client.CallToolAsync("sample", new Dictionary<string, object?> { ["prompt"] = "write a haiku" });

        Assert.Equal("write a haiku", prompt);
        Assert.Equal("sampled: write a haiku", Text(result));
    }

    [Theory]
    [InlineData("accept", "accepted: blue")]
    [InlineData("decline", "declined")]
    public async Task Elicit_RoundTripsThroughTheClientElicitationHandler(string action, string expected)
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        string? question = null;
        var handlers = new McpClientHandlers
        {
            ElicitationHandler = (request, _) =>
            {
                question = request!.Message;
                return ValueTask.FromResult(new ElicitResult
                {
                    Action = action,
                    Content = action == "accept" ? new Dictionary<string, JsonElement> { ["answer"] = JsonSerializer.SerializeToElement("blue") } : null,
                });
            },
        };
        await using var client = await ConnectAsync(upstream.StreamableEndpoint, handlers);

        var result = await client.CallToolAsync("elicit", new Dictionary<string, object?> { ["question"] = "Favourite colour?" });

        Assert.Equal("Favourite colour?", question);
        Assert.Equal(expected, Text(result));
    }

    [Fact]
    public async Task OtherTools_ReturnImageStructuredAndErrorResults()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var image = Assert.IsType<ImageContentBlock>(
            Assert.Single((await client.CallToolAsync("image", new Dictionary<string, object?> { ["bytes"] = 300 })).Content));
        var structured = await client.CallToolAsync("structured", new Dictionary<string, object?> { ["city"] = "Oslo" });
        var failed = await client.CallToolAsync("fail", new Dictionary<string, object?> { ["message"] = "boom" });
        var slow = await client.CallToolAsync("slow", new Dictionary<string, object?> { ["delayMs"] = 20 });

        Assert.Equal("image/png", image.MimeType);
        Assert.Equal(300, image.DecodedData.Length);
        Assert.Equal("Oslo", structured.StructuredContent!.Value.GetProperty("city").GetString());
        Assert.True(failed.IsError);
        Assert.Contains("boom", Text(failed));
        Assert.Equal("slow done", Text(slow));
    }

    [Fact]
    public async Task PromptAndResource_AreServed()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var prompt = await client.GetPromptAsync("greet", new Dictionary<string, object?> { ["name"] = "Ada" });
        var resource = await client.ReadResourceAsync("test://readme");

        Assert.Equal("Say hello to Ada.", Assert.IsType<TextContentBlock>(Assert.Single(prompt.Messages).Content).Text);
        Assert.Equal(UpstreamResources.ReadmeText, Assert.IsType<TextResourceContents>(Assert.Single(resource.Contents)).Text);
    }

    [Fact]
    public async Task LegacySse_EchoWorksOverTheOldTransport()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using var client = await ConnectAsync(upstream.LegacySseEndpoint, mode: HttpTransportMode.Sse);

        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "old school" });

        Assert.Equal("old school", Text(result));
        Assert.Contains(upstream.Requests, request => request.Method == "GET" && request.PathAndQuery == "/legacy/sse");
        Assert.Contains(upstream.Requests, request => request.Method == "POST" && request.PathAndQuery.StartsWith("/legacy/message?sessionId=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stateless_ServesToolsWithoutSessions()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync(options => options.Stateless = true);
        await using var client = await ConnectAsync(upstream.StreamableEndpoint);

        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "no session" });

        Assert.Equal("no session", Text(result));
        Assert.DoesNotContain(upstream.Requests, request => request.Header("Mcp-Session-Id") is not null);
    }

    [Fact]
    public async Task RequiredAuthorization_MissingHeader_Returns401()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync(RequireBearer);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => ConnectAsync(upstream.StreamableEndpoint));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
    }

    [Fact]
    public async Task RequiredAuthorization_WithHeader_Succeeds()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync(RequireBearer);
        await using var client = await ConnectAsync(
            upstream.StreamableEndpoint, headers: new Dictionary<string, string> { ["Authorization"] = "Bearer upstream-secret" });

        var result = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "let in" });

        Assert.Equal("let in", Text(result));
        Assert.All(upstream.Requests, request => Assert.Equal("Bearer upstream-secret", request.Header("authorization")));
    }

    [Fact]
    public async Task Requests_RecordMethodPathHeadersAndBody()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        await using (var client = await ConnectAsync(upstream.StreamableEndpoint))
        {
            await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "recorded" });
        }

        var call = Assert.Single(upstream.Requests, request => request.Body.Contains("\"tools/call\"", StringComparison.Ordinal));
        Assert.Equal("POST", call.Method);
        Assert.Equal("/mcp", call.PathAndQuery);
        Assert.Contains("\"recorded\"", call.Body, StringComparison.Ordinal);
        Assert.NotNull(call.Header("Mcp-Session-Id"));
        Assert.NotNull(call.Header("MCP-Protocol-Version"));
        Assert.Contains("text/event-stream", call.Header("Accept"), StringComparison.Ordinal);
        Assert.Contains(upstream.Requests, request => request.Method == "DELETE" && request.PathAndQuery == "/mcp");
    }

    [Fact]
    public async Task Resumable_LastEventIdReplaysTheRestOfTheStream()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        using var http = new HttpClient();
        using var initialize = await PostRpcAsync(http, upstream.StreamableEndpoint, session: null,
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""");
        var session = initialize.Headers.GetValues("Mcp-Session-Id").Single();
        using var call = await PostRpcAsync(http, upstream.StreamableEndpoint, session,
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":2,"delayMs":5},"_meta":{"progressToken":"p"}}}""");
        var ids = EventIds(await call.Content.ReadAsStringAsync());

        using var resume = new HttpRequestMessage(HttpMethod.Get, upstream.StreamableEndpoint);
        resume.Headers.Add("Accept", "text/event-stream");
        resume.Headers.Add("Mcp-Session-Id", session);
        resume.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        resume.Headers.Add("Last-Event-ID", ids[1]);
        using var replay = await http.SendAsync(resume);
        var replayed = await replay.Content.ReadAsStringAsync();

        // The priming event, two progress notifications, then the result.
        Assert.Equal(4, ids.Length);
        Assert.Equal(ids[2..], EventIds(replayed));
        Assert.Contains("\"text\":\"done\"", replayed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RawSseSlow_FirstEventArrivesBeforeTheDelayEnds()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, upstream.Raw("sse-slow?delayMs=600"))
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}""", Encoding.UTF8, "application/json"),
        };
        var clock = Stopwatch.StartNew();

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = await ReadEventAsync(reader);
        var firstAt = clock.Elapsed;
        var last = await ReadEventAsync(reader);
        var lastAt = clock.Elapsed;

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("notifications/progress", first, StringComparison.Ordinal);
        Assert.Equal("""{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"late"}]}}""", last);
        // Measured between the two events, so a slow start (a busy machine) cannot fail it: the first event was not held
        // back until the delay ended.
        Assert.True(lastAt - firstAt >= TimeSpan.FromMilliseconds(450), $"first event after {firstAt.TotalMilliseconds} ms, last after {lastAt.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task RawEndpoints_ServeBrokenAndStatusResponses()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        using var http = new HttpClient();

        using var malformedJson = await http.PostAsync(upstream.Raw("malformed-json"), new StringContent("{}"));
        using var malformedSse = await http.PostAsync(upstream.Raw("malformed-sse"), new StringContent("""{"jsonrpc":"2.0","id":7,"method":"ping"}"""));
        using var status = await http.PostAsync(upstream.Raw("status/503"), new StringContent("{}"));

        Assert.Equal("application/json", malformedJson.Content.Headers.ContentType?.MediaType);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(malformedJson.Content.ReadAsStream()));
        Assert.Contains("data: not json", await malformedSse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("\"id\":7,", await malformedSse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status.StatusCode);
        Assert.Equal(3, upstream.Requests.Count(request => request.PathAndQuery.StartsWith("/raw/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RawHang_EndsWhenTheCallerAborts()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync();
        using var http = new HttpClient();
        using var abort = new CancellationTokenSource();
        var post = http.PostAsync(upstream.Raw("hang"), new StringContent("{}"), abort.Token);
        await Eventually.WaitUntilAsync(() => upstream.ActiveRequests == 1, TimeSpan.FromSeconds(2));

        await abort.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => post);
        await Eventually.WaitUntilAsync(() => upstream.AbortedRequests == 1 && upstream.ActiveRequests == 0, TimeSpan.FromSeconds(2));
    }

    private static void RequireBearer(UpstreamOptions options)
    {
        options.RequiredAuthorizationHeaderName = "Authorization";
        options.RequiredAuthorizationHeaderValue = "Bearer upstream-secret";
    }

    private static Task<McpClient> ConnectAsync(
        Uri endpoint,
        McpClientHandlers? handlers = null,
        HttpTransportMode mode = HttpTransportMode.StreamableHttp,
        Dictionary<string, string>? headers = null) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = endpoint, TransportMode = mode, AdditionalHeaders = headers }),
            new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "upstream-smoke-test", Version = "1.0.0" },
                Handlers = handlers ?? new McpClientHandlers(),
            });

    private static async Task<HttpResponseMessage> PostRpcAsync(HttpClient http, Uri endpoint, string? session, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Accept", "application/json, text/event-stream");
        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
            request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        }

        var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return response;
    }

    private static string[] EventIds(string stream) =>
        stream.Split('\n').Where(line => line.StartsWith("id:", StringComparison.Ordinal)).Select(line => line[3..].Trim()).ToArray();

    private static string Text(CallToolResult result) => Assert.IsType<TextContentBlock>(result.Content[0]).Text;

    /// <summary>The data of the next SSE event (multi-line data joined with newlines).</summary>
    private static async Task<string> ReadEventAsync(StreamReader reader)
    {
        var data = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0 && data.Count > 0)
            {
                break;
            }

            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Add(line["data:".Length..].TrimStart());
            }
        }

        return string.Join("\n", data);
    }
}
