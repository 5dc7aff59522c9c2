using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>
/// What the gateway does to the transport itself (two real hosts): SSE and JSON responses, sessions, GET streams and
/// resumption, legacy HTTP+SSE, pinned versions and route changes, upstream failures, and malformed traffic either way.
/// </summary>
public sealed class GatewayTransportTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/transport";
    private static readonly Tokenizer O200k = TiktokenTokenizer.CreateForEncoding("o200k_base");
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private readonly List<IAsyncDisposable> _owned = [];
    private GatewayTestbed _bed = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }
    }

    /// <summary>Each test starts its own testbed, some with gateway settings of their own.</summary>
    private async Task StartAsync(Action<Dictionary<string, string?>>? configure = null)
    {
        _bed = await GatewayTestbed.StartAsync(configure: configure);
        _owned.Add(_bed);
    }

    private static int Tokens(string text) => O200k.CountTokens(text);

    private static string EchoCall(object id, string text) =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + System.Text.Json.JsonSerializer.Serialize(id)
        + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + text + "\"}}}";

    private static string Initialize(int id, string protocolVersion) =>
        """{"jsonrpc":"2.0","id":ID,"method":"initialize","params":{"protocolVersion":"VERSION","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"""
            .Replace("ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("VERSION", protocolVersion, StringComparison.Ordinal);

    [Fact]
    public async Task SseResponse_IsForwardedEventByEventAsItArrives()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("sse-slow?delayMs=1200"));
        var clock = Stopwatch.StartNew();

        using var response = await _bed.PostRpcAsync(Server, EchoCall(3, "hi"));
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = await ReadEventAsync(reader);
        var firstAt = clock.Elapsed;
        var last = await ReadEventAsync(reader);
        var lastAt = clock.Elapsed;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("notifications/progress", first?.Data, StringComparison.Ordinal);
        Assert.Equal("""{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"late"}]}}""", last?.Data);
        // The upstream waits 1200 ms between its two events; a buffering gateway would deliver them together. (Measured
        // between the events, so a slow first request through a cold or busy gateway cannot make this pass or fail.)
        Assert.True(lastAt - firstAt >= TimeSpan.FromMilliseconds(900),
            $"the first event arrived after {firstAt.TotalMilliseconds:0} ms and the last after {lastAt.TotalMilliseconds:0} ms: the gateway held the first one back");
        var call = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("ok", (string?)call["outcome"]);
        // The notification's params as raw JSON, then the result's text block.
        Assert.Equal(Tokens("""{"progressToken":"raw","progress":1,"total":2}""") + Tokens("late"), (long)call["outputTokens"]!);
    }

    [Fact]
    public async Task JsonResponse_IsForwardedIntactAndMetered()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("json-result"));

        using var response = await _bed.PostRpcAsync(Server, EchoCall("req-42", "anything"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal($$$"""{"jsonrpc":"2.0","id":"req-42","result":{"content":[{"type":"text","text":"{{{UpstreamMcpServer.JsonResultText}}}"}]}}""", body);
        var call = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("ok", (string?)call["outcome"]);
        Assert.Equal("\"req-42\"", (string?)call["jsonRpcId"]);
        Assert.Equal(Tokens("echo") + Tokens("""{"text":"anything"}"""), (long)call["inputTokens"]!);
        Assert.Equal(Tokens(UpstreamMcpServer.JsonResultText), (long)call["outputTokens"]!);
    }

    [Fact]
    public async Task HeldJsonAnswers_ReachEachClientIntact_WhileOtherCodeReusesThePool()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("json-echo"));
        using var stop = new CancellationTokenSource();
        // Rents the pool's arrays of the answers' sizes and scribbles over them: an answer whose buffer went back to the
        // pool before it was sent would reach its client changed.
        var scribbler = Task.Run(async () =>
        {
            var sizes = new[] { 1024, 4096, 16 * 1024, 32 * 1024, 64 * 1024 };
            while (!stop.IsCancellationRequested)
            {
                foreach (var size in sizes)
                {
                    var array = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
                    array.AsSpan().Fill((byte)'#');
                    System.Buffers.ArrayPool<byte>.Shared.Return(array);
                }

                await Task.Yield();
            }
        });

        var calls = Enumerable.Range(1, 48).Select(async i =>
        {
            var text = string.Concat(Enumerable.Repeat($"answer {i};", 40 + i * 60));
            using var response = await _bed.PostRpcAsync(Server, EchoCall(i, text));
            var body = await response.ReadJsonAsync();
            return (Status: response.StatusCode, Sent: text, Got: (string?)body["result"]!["content"]![0]!["text"], Id: (int)body["id"]!, Expected: i);
        }).ToList();
        var results = await Task.WhenAll(calls);
        await stop.CancelAsync();
        await scribbler;

        Assert.All(results, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.Status);
            Assert.Equal(r.Expected, r.Id);
            Assert.Equal(r.Sent, r.Got);
        });
    }

    [Fact]
    public async Task Session_IdReachesTheClientIsHonouredAndEndsWithDelete()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);

        var session = await _bed.InitializeAsync(Server);
        using var call = await _bed.PostRpcAsync(Server, EchoCall(1, "in session"), configure: r => GatewayTestbed.WithSession(r, session));
        var callBody = await call.Content.ReadAsStringAsync();
        using var delete = await SendAsync(HttpMethod.Delete, Server, r => GatewayTestbed.WithSession(r, session));
        using var afterDelete = await _bed.PostRpcAsync(Server, EchoCall(2, "too late"), configure: r => GatewayTestbed.WithSession(r, session));
        var afterDeleteBody = await afterDelete.ReadJsonAsync();

        Assert.NotNull(session);
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Contains("in session", callBody, StringComparison.Ordinal);
        var upstreamCall = Assert.Single(_bed.Upstream.Requests, r => r.Body.Contains("\"in session\"", StringComparison.Ordinal));
        Assert.Equal(session, upstreamCall.Header("Mcp-Session-Id"));
        Assert.Equal("2025-06-18", upstreamCall.Header("MCP-Protocol-Version"));
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        var upstreamDelete = Assert.Single(_bed.Upstream.Requests, r => r.Method == "DELETE");
        Assert.Equal(session, upstreamDelete.Header("Mcp-Session-Id"));
        // The upstream no longer knows the session, and the gateway hands its 404 on.
        Assert.Equal(HttpStatusCode.NotFound, afterDelete.StatusCode);
        Assert.Equal(-32001, (int)afterDeleteBody["error"]!["code"]!);
    }

    [Fact]
    public async Task StandaloneGetStream_OpensThroughTheGateway()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);

        await using var client = await _bed.ConnectAsync(Server);
        var echoed = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "beside the stream" });

        Assert.Equal("beside the stream", Assert.IsType<TextContentBlock>(echoed.Content[0]).Text);
        await Eventually.WaitUntilAsync(() => _bed.Upstream.Requests.Any(r => r.Method == "GET" && r.Header("Mcp-Session-Id") == client.SessionId), TimeSpan.FromSeconds(5));
        var get = _bed.Upstream.Requests.First(r => r.Method == "GET");
        Assert.Equal("/mcp", get.PathAndQuery);
        Assert.Contains("text/event-stream", get.Header("Accept"), StringComparison.Ordinal);
        Assert.Null(get.Header("Authorization"));
        // The GET stream stays open upstream (POST streams end with their response).
        await Eventually.WaitUntilAsync(() => _bed.Upstream.ActiveStreams >= 1, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task LastEventId_ResumesAnAbortedResponseStreamWithTheRemainingEvents()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        var session = await InitializeSessionAsync("2025-11-25");
        const string call = """{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3,"delayMs":250},"_meta":{"progressToken":"p"}}}""";

        string firstProgressId;
        using (var response = await _bed.PostRpcAsync(Server, call, configure: r => WithSession(r, session, "2025-11-25")))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            SseMessage? e;
            do
            {
                e = await ReadEventAsync(reader);
            }
            while (e is not null && !e.Data.Contains("notifications/progress", StringComparison.Ordinal));

            Assert.NotNull(e?.Id);
            firstProgressId = e.Id;
        }

        // The client went away after the first notification (the gateway cut the upstream request too); it resumes with
        // GET and the last id it saw.
        await Eventually.WaitUntilAsync(() => _bed.Upstream.AbortedRequests >= 1, TimeSpan.FromSeconds(5));
        using var resume = await SendAsync(HttpMethod.Get, Server, r =>
        {
            r.Headers.Accept.ParseAdd("text/event-stream");
            WithSession(r, session, "2025-11-25");
            r.Headers.Add("Last-Event-ID", firstProgressId);
        });
        var replayed = new List<SseMessage>();
        using (var reader = new StreamReader(await resume.Content.ReadAsStreamAsync()))
        {
            while (await ReadEventAsync(reader) is { } e)
            {
                replayed.Add(e);
                if (e.Data.Contains("\"result\"", StringComparison.Ordinal))
                {
                    break;
                }
            }
        }

        Assert.Equal(HttpStatusCode.OK, resume.StatusCode);
        Assert.Equal("text/event-stream", resume.Content.Headers.ContentType?.MediaType);
        var messages = replayed.Where(e => e.Data.Length > 0).Select(e => JsonNode.Parse(e.Data)!).ToList();
        Assert.Equal([2.0, 3.0], messages.Where(m => (string?)m["method"] == "notifications/progress").Select(m => (double)m["params"]!["progress"]!));
        var result = Assert.Single(messages, m => m["result"] is not null);
        Assert.Equal(5, (int)result["id"]!);
        Assert.Equal("done", (string?)result["result"]!["content"]![0]!["text"]);
        var upstreamResume = Assert.Single(_bed.Upstream.Requests, r => r.Method == "GET");
        Assert.Equal(firstProgressId, upstreamResume.Header("Last-Event-ID"));
        Assert.Equal(session, upstreamResume.Header("Mcp-Session-Id"));
        Assert.Equal("2025-11-25", upstreamResume.Header("MCP-Protocol-Version"));
    }

    [Fact]
    public async Task LegacySseUpstream_ServesTheSdkClientThroughTheGatewayAndIsMetered()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.LegacySseEndpoint, type: "sse");

        // The client's HttpClient only reaches the in-memory gateway, so every message it posts went to the URL the
        // gateway put in the endpoint event.
        var client = await _bed.ConnectAsync(Server, mode: HttpTransportMode.Sse).WaitAsync(ReadTimeout);
        try
        {
            var tools = await client.ListToolsAsync().AsTask().WaitAsync(ReadTimeout);
            var echoed = await client.CallToolAsync("echo", new Dictionary<string, object?> { ["text"] = "over the old transport" }).AsTask().WaitAsync(ReadTimeout);

            Assert.Contains(tools, tool => tool.Name == "echo");
            Assert.Equal("over the old transport", Assert.IsType<TextContentBlock>(echoed.Content[0]).Text);
        }
        finally
        {
            await client.DisposeAsync().AsTask().WaitAsync(ReadTimeout);
        }

        Assert.Contains(_bed.Upstream.Requests, r => r.Method == "GET" && r.PathAndQuery == "/legacy/sse");
        Assert.Contains(_bed.Upstream.Requests, r => r.Method == "POST" && r.PathAndQuery.StartsWith("/legacy/message?sessionId=", StringComparison.Ordinal));
        var events = await WaitForEventsAsync(events => events.Any(e => (string?)e["method"] == "tools/call"));
        var list = Assert.Single(events, e => (string?)e["method"] == "tools/list");
        Assert.Equal("ok", (string?)list["outcome"]);
        Assert.True((long)list["outputTokens"]! > 50, list.ToJsonString());
        var call = Assert.Single(events, e => (string?)e["method"] == "tools/call");
        Assert.Equal("ok", (string?)call["outcome"]);
        Assert.Equal("echo", (string?)call["target"]);
        Assert.Equal(Tokens("over the old transport"), (long)call["outputTokens"]!);
    }

    [Fact]
    public async Task LegacySseUpstream_EndpointEventPointsAtTheGatewayAndForgedSessionsGet404()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.LegacySseEndpoint, type: "sse");
        var stranger = await _bed.App.CreateUserAsync("mallory");

        using var stream = await SendAsync(HttpMethod.Get, Server, r => r.Headers.Accept.ParseAdd("text/event-stream"));
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        var endpoint = await ReadEventAsync(reader);
        Assert.Equal("endpoint", endpoint?.Type);
        var messagePath = $"/mcp/{Server}/message?session=";
        Assert.StartsWith(messagePath, endpoint!.Data, StringComparison.Ordinal);
        Assert.DoesNotContain(_bed.Upstream.BaseAddress.Authority, endpoint.Data, StringComparison.Ordinal);
        var token = Uri.UnescapeDataString(endpoint.Data[messagePath.Length..]);
        var tampered = token[..^1] + (token[^1] == 'A' ? 'B' : 'A');
        var upstreamPostsBefore = _bed.Upstream.Requests.Count(r => r.Method == "POST");

        using var forged = await _bed.PostRpcAsync($"{Server}/message?session=forged", EchoCall(1, "x"));
        using var forgedSignature = await _bed.PostRpcAsync($"{Server}/message?session={Uri.EscapeDataString(tampered)}", EchoCall(2, "x"));
        using var someoneElses = await _bed.PostRpcAsync($"{Server}/message?session={Uri.EscapeDataString(token)}", EchoCall(3, "x"), stranger);
        var upstreamPostsAfterForgeries = _bed.Upstream.Requests.Count(r => r.Method == "POST");
        using var genuine = await _bed.PostRpcAsync($"{Server}/message?session={Uri.EscapeDataString(token)}", Initialize(0, "2024-11-05"));

        foreach (var refused in new[] { forged, forgedSignature, someoneElses })
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
            Assert.Equal(-32004, (int)(await refused.ReadJsonAsync())["error"]!["code"]!);
        }

        Assert.Equal(upstreamPostsBefore, upstreamPostsAfterForgeries);
        Assert.Equal(HttpStatusCode.Accepted, genuine.StatusCode);
    }

    [Fact]
    public async Task LegacySseUpstream_AnswerOnTheStreamBeforeThe202_IsStillOneMeteredExchange()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("eager-sse"), type: "sse");
        using var stream = await SendAsync(HttpMethod.Get, Server, r => r.Headers.Accept.ParseAdd("text/event-stream"));
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        var endpoint = await ReadEventAsync(reader);

        using var post = await _bed.PostRpcAsync(Server + endpoint!.Data[$"/mcp/{Server}".Length..], EchoCall(8, "eager"));
        var answer = await ReadEventAsync(reader);

        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        Assert.Contains(UpstreamMcpServer.EagerResultText, answer?.Data, StringComparison.Ordinal);
        var events = await WaitForEventsAsync(events => events.Any(e => (string?)e["method"] == "tools/call"));
        var call = Assert.Single(events);
        Assert.Equal("tools/call", (string?)call["method"]);
        Assert.Equal("8", (string?)call["jsonRpcId"]);
        Assert.Equal("ok", (string?)call["outcome"]);
        Assert.Equal(Tokens(UpstreamMcpServer.EagerResultText), (long)call["outputTokens"]!);
    }

    [Fact]
    public async Task Notification_Gets202AndIsRecordedAsOk()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        using var initialize = await _bed.PostRpcAsync(Server, Initialize(0, "2025-06-18"));
        await initialize.Content.ReadAsStringAsync();
        var session = initialize.Headers.GetValues("Mcp-Session-Id").Single();

        using var notification = await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            configure: r => GatewayTestbed.WithSession(r, session));

        Assert.Equal(HttpStatusCode.Accepted, notification.StatusCode);
        Assert.Empty(await notification.Content.ReadAsByteArrayAsync());
        var events = await WaitForEventsAsync(events => events.Count >= 2);
        var recorded = Assert.Single(events, e => (string?)e["method"] == "notifications/initialized");
        Assert.Equal("ok", (string?)recorded["outcome"]);
        Assert.Equal(202, (int)recorded["httpStatus"]!);
        Assert.Null((string?)recorded["jsonRpcId"]);
        Assert.Equal(session, (string?)recorded["sessionId"]);
    }

    [Fact]
    public async Task PinnedVersions_RouteToTheirUpstreamAndLatestFollowsStatusChangesLive()
    {
        await StartAsync();
        var a = _bed.Upstream;
        var b = await UpstreamMcpServer.StartAsync();
        _owned.Add(b);
        await _bed.PublishAsync(Server, a.StreamableEndpoint, version: "1.0.0");
        await _bed.PublishAsync(Server, b.StreamableEndpoint, version: "2.0.0");
        static int Initializes(UpstreamMcpServer upstream) => upstream.Requests.Count(r => r.Body.Contains("\"initialize\"", StringComparison.Ordinal));

        await _bed.InitializeAsync(Server);
        Assert.Equal((0, 1), (Initializes(a), Initializes(b)));
        await _bed.InitializeAsync(Server + "@1.0.0");
        Assert.Equal((1, 1), (Initializes(a), Initializes(b)));

        var deprecate = await _bed.Publisher.Api.PatchAsJsonAsync($"/v0.1/servers/{Json.Encode(Server)}/versions/2.0.0/status", new { status = "deprecated" });
        Assert.True(deprecate.IsSuccessStatusCode, await deprecate.Content.ReadAsStringAsync());
        // No restart: the plain route moves to 1.0.0 once the catalog reloads (at once on this node).
        var clock = Stopwatch.StartNew();
        while (Initializes(a) == 1 && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            using var initialize = await _bed.PostRpcAsync(Server, Initialize(1, "2025-06-18"));
            Assert.Equal(HttpStatusCode.OK, initialize.StatusCode);
            await initialize.Content.ReadAsStringAsync();
        }

        var reachedB = Initializes(b);
        using (var again = await _bed.PostRpcAsync(Server, Initialize(2, "2025-06-18")))
        {
            await again.Content.ReadAsStringAsync();
        }

        using var unknown = await _bed.PostRpcAsync(Server + "@9.9.9", EchoCall(1, "nowhere"));
        var unknownBody = await unknown.ReadJsonAsync();

        Assert.True(Initializes(a) == 3, $"the plain route still reached 2.0.0 {clock.Elapsed.TotalMilliseconds:0} ms after it was deprecated");
        Assert.Equal(reachedB, Initializes(b));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("2.0", (string?)unknownBody["jsonrpc"]);
        Assert.Equal(-32004, (int)unknownBody["error"]!["code"]!);
        Assert.Contains("9.9.9", (string?)unknownBody["error"]!["message"], StringComparison.Ordinal);
        var versions = (await _bed.EventsAsync()).Where(e => (string?)e["method"] == "initialize").Select(e => (string?)e["version"]).ToList();
        Assert.Equal("2.0.0", versions[0]);
        Assert.Equal("1.0.0", versions[1]);
        Assert.Equal("1.0.0", versions[^1]);
    }

    [Fact]
    public async Task EveryVersionDeprecated_PinnedVersionsStayRoutableAndThePlainRouteSaysHowToPin()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint, version: "1.0.0");
        await _bed.InitializeAsync(Server);
        var deprecate = await _bed.Publisher.Api.PatchAsJsonAsync($"/v0.1/servers/{Json.Encode(Server)}/versions/1.0.0/status", new { status = "deprecated" });
        Assert.True(deprecate.IsSuccessStatusCode, await deprecate.Content.ReadAsStringAsync());
        await _bed.WaitForCatalogAsync(Server, l => l.Latest is null);

        using var plain = await _bed.PostRpcAsync(Server, Initialize(7, "2025-06-18"));
        var plainBody = await plain.ReadJsonAsync();
        using var pinned = await _bed.PostRpcAsync(Server + "@1.0.0", Initialize(8, "2025-06-18"));

        Assert.Equal(HttpStatusCode.NotFound, plain.StatusCode);
        Assert.Equal(-32004, (int)plainBody["error"]!["code"]!);
        Assert.Contains($"/mcp/{Server}@", (string?)plainBody["error"]!["message"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
        Assert.Contains("\"id\":8", await pinned.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(2, _bed.Upstream.Requests.Count(r => r.Body.Contains("\"initialize\"", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ABurstOfRegistryChanges_ReloadsTheCatalogOnceOrTwice_NotOncePerChange()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        await Task.Delay(500);
        var refresher = _bed.App.Services.GetRequiredService<GatewayCatalogRefresher>();
        int Loads() => _bed.App.Logs.Lines.Count(l => l.Contains("Gateway catalog loaded", StringComparison.Ordinal));
        var before = Loads();

        for (var i = 0; i < 50; i++)
        {
            refresher.Signal();
        }

        await Eventually.WaitUntilAsync(() => Loads() > before, TimeSpan.FromSeconds(5), "a reload");
        await Task.Delay(500);

        Assert.InRange(Loads() - before, 1, 2);
    }

    [Fact]
    public async Task PathsNamingNoRoutableListing_GetAJsonRpc404()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);

        foreach (var path in new[] { "/mcp/com.nobody/nothing", "/mcp/com.nobody", "/mcp/", "/mcp/" + Server + "-not/x" })
        {
            using var response = await _bed.Consumer.Api.PostAsync(path, new StringContent(EchoCall(1, "x"), Encoding.UTF8, "application/json"));
            var body = await response.ReadJsonAsync();
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("2.0", (string?)body["jsonrpc"]);
            Assert.Equal(-32004, (int)body["error"]!["code"]!);
        }

        Assert.Empty(_bed.Upstream.Requests);
    }

    [Fact]
    public async Task PostsThatAreNotApplicationJson_Get415AndNeverReachTheUpstream()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);

        using var none = await _bed.PostRpcAsync(Server, Initialize(1, "2025-06-18"), configure: r => r.Content!.Headers.ContentType = null);
        using var text = await _bed.PostRpcAsync(Server, Initialize(2, "2025-06-18"), configure: r => r.Content!.Headers.ContentType = new("text/plain"));
        using var withCharset = await _bed.PostRpcAsync(Server, Initialize(3, "2025-06-18"), configure: r => r.Content!.Headers.ContentType = new("application/json") { CharSet = "utf-8" });

        foreach (var refused in new[] { none, text })
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, refused.StatusCode);
            var body = await refused.ReadJsonAsync();
            Assert.Equal(-32600, (int)body["error"]!["code"]!);
            Assert.Contains("application/json", (string?)body["error"]!["message"], StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, withCharset.StatusCode);
        var reached = Assert.Single(_bed.Upstream.Requests);
        Assert.Contains("\"id\":3", reached.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpstreamRefusingConnections_Returns502WithTheRequestIdAndCostsNothing()
    {
        await StartAsync();
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await _bed.PublishAsync(Server, new Uri($"http://127.0.0.1:{port}/mcp"));
        await UsePaidPlanAsync();

        using var response = await _bed.PostRpcAsync(Server, EchoCall("call-17", "into the void"));
        var body = await response.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("call-17", (string?)body["id"]);
        Assert.Equal(-32010, (int)body["error"]!["code"]!);
        var recorded = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("upstream_error", (string?)recorded["outcome"]);
        Assert.Equal(502, (int)recorded["httpStatus"]!);
        Assert.Equal("0", (string?)recorded["cost"]);
    }

    [Fact]
    public async Task UpstreamSilentPastTheTimeout_Returns504WithinAboutTheTimeoutAndCostsNothing()
    {
        await StartAsync(settings => settings["Gateway:UpstreamTimeout"] = "00:00:01");
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("hang"));
        await UsePaidPlanAsync();
        var clock = Stopwatch.StartNew();

        using var response = await _bed.PostRpcAsync(Server, EchoCall(23, "anyone there?"));
        var body = await response.ReadJsonAsync();
        var elapsed = clock.Elapsed;

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(4));
        Assert.Equal(23, (int)body["id"]!);
        Assert.Equal(-32011, (int)body["error"]!["code"]!);
        var recorded = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("upstream_error", (string?)recorded["outcome"]);
        Assert.Equal(504, (int)recorded["httpStatus"]!);
        Assert.Equal("0", (string?)recorded["cost"]);
        await Eventually.WaitUntilAsync(() => _bed.Upstream.ActiveRequests == 0, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task OversizeBody_Returns413AndNeverReachesTheUpstream()
    {
        await StartAsync(settings => settings["Gateway:MaxRequestBodyBytes"] = "1000");
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        var oversize = EchoCall(1, new string('x', 1500));

        using var withLength = await _bed.PostRpcAsync(Server, oversize);
        using var chunked = await _bed.PostRpcAsync(Server, "", configure: r =>
        {
            r.Content = new UnknownLengthContent(Encoding.UTF8.GetBytes(oversize));
            Assert.Null(r.Content.Headers.ContentLength);
        });
        using var small = await _bed.PostRpcAsync(Server, Initialize(0, "2025-06-18"));

        foreach (var tooLarge in new[] { withLength, chunked })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
            var body = await tooLarge.ReadJsonAsync();
            Assert.Equal(-32013, (int)body["error"]!["code"]!);
        }

        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        var reached = Assert.Single(_bed.Upstream.Requests);
        Assert.Contains("\"initialize\"", reached.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedRequests_Get400WithTheirJsonRpcCodeAreRecordedAndNeverForwarded()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);

        using var notJson = await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","id":1,"method":""");
        using var notJsonRpc = await _bed.PostRpcAsync(Server, """{"hello":1}""");
        var notJsonBody = await notJson.ReadJsonAsync();
        var notJsonRpcBody = await notJsonRpc.ReadJsonAsync();
        var refusals = await WaitForEventsAsync(events => events.Count >= 2);
        var upstreamRequestsAfterRefusals = _bed.Upstream.Requests.Count;
        var session = await _bed.InitializeAsync(Server);
        using var valid = await _bed.PostRpcAsync(Server, EchoCall(2, "still working"), configure: r => GatewayTestbed.WithSession(r, session));

        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal(-32700, (int)notJsonBody["error"]!["code"]!);
        Assert.Equal(HttpStatusCode.BadRequest, notJsonRpc.StatusCode);
        Assert.Equal(-32600, (int)notJsonRpcBody["error"]!["code"]!);
        Assert.Equal(0, upstreamRequestsAfterRefusals);
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, e =>
        {
            Assert.Equal("rpc_error", (string?)e["outcome"]);
            Assert.Equal(400, (int)e["httpStatus"]!);
            Assert.Equal(0, (long)e["totalTokens"]!);
        });
        Assert.Equal(HttpStatusCode.OK, valid.StatusCode);
        Assert.Contains("still working", await valid.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedJsonFromTheUpstream_IsForwardedUnchangedAndRecordedAsUnanswered()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("malformed-json"));

        using var response = await _bed.PostRpcAsync(Server, EchoCall(1, "break it"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"jsonrpc":"2.0","id":1,"result":{"content":[""", body);
        // No parseable answer came back: the exchange is unanswered, so it is an upstream error and not billed.
        var recorded = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("upstream_error", (string?)recorded["outcome"]);
        Assert.Equal(0, (long)recorded["outputTokens"]!);
        Assert.Equal(200, (int)recorded["httpStatus"]!);
        AssertNoErrorsLogged();
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task MalformedSseEventsFromTheUpstream_AreForwardedUnchangedAndTheValidResultIsCounted()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("malformed-sse"));

        using var response = await _bed.PostRpcAsync(Server, EchoCall(4, "break it"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            "event: message\ndata: not json\n\ndata: {still not json\n\n"
            + "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n\n",
            body);
        var recorded = Assert.Single(await WaitForEventsAsync(events => events.Count >= 1));
        Assert.Equal("ok", (string?)recorded["outcome"]);
        Assert.Equal(Tokens("ok"), (long)recorded["outputTokens"]!);
        AssertNoErrorsLogged();
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task McpMethodHeader_MismatchingTheBodyGets400AndMatchingIsForwarded()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        var initialize = Initialize(5, "2025-06-18");

        using var mismatch = await _bed.PostRpcAsync(Server, initialize, configure: r => r.Headers.Add("Mcp-Method", "tools/list"));
        var mismatchBody = await mismatch.ReadJsonAsync();
        var upstreamRequestsAfterMismatch = _bed.Upstream.Requests.Count;
        using var match = await _bed.PostRpcAsync(Server, initialize, configure: r => r.Headers.Add("Mcp-Method", "initialize"));
        await match.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, mismatch.StatusCode);
        Assert.Equal(-32020, (int)mismatchBody["error"]!["code"]!);
        Assert.Equal(5, (int)mismatchBody["id"]!);
        Assert.Equal(0, upstreamRequestsAfterMismatch);
        Assert.Equal(HttpStatusCode.OK, match.StatusCode);
        Assert.Equal("initialize", Assert.Single(_bed.Upstream.Requests).Header("Mcp-Method"));
        var refused = (await WaitForEventsAsync(events => events.Count >= 2))[0];
        Assert.Equal("rpc_error", (string?)refused["outcome"]);
        Assert.Equal(400, (int)refused["httpStatus"]!);
    }

    [Fact]
    public async Task Batch_AnsweredByTheUpstreamIsOneEventPerRequestWithItsOwnTokens()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.Raw("json-result"));
        var batch = $"[{EchoCall(1, "first")},{EchoCall(2, "second one")}]";

        using var response = await _bed.PostRpcAsync(Server, batch);
        var body = await response.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2], body.AsArray().Select(m => (int)m!["id"]!));
        Assert.Equal(batch, Assert.Single(_bed.Upstream.Requests).Body);
        var events = await WaitForEventsAsync(events => events.Count >= 2);
        Assert.Equal(["1", "2"], events.Select(e => (string?)e["jsonRpcId"]).Order());
        Assert.All(events, e =>
        {
            Assert.Equal("ok", (string?)e["outcome"]);
            Assert.Equal(Tokens(UpstreamMcpServer.JsonResultText), (long)e["outputTokens"]!);
        });
        Assert.Equal(Tokens("echo") + Tokens("""{"text":"second one"}"""), (long)events.Single(e => (string?)e["jsonRpcId"] == "2")["inputTokens"]!);
    }

    [Fact]
    public async Task Batch_RefusedByTheSdkUpstreamIsForwardedAndEveryRequestIsAnUpstreamError()
    {
        await StartAsync();
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        var session = await InitializeSessionAsync("2025-03-26");
        var batch = $"[{EchoCall(1, "first")},{EchoCall(2, "second")}]";

        using var response = await _bed.PostRpcAsync(Server, batch, configure: r => WithSession(r, session, "2025-03-26"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(batch, Assert.Single(_bed.Upstream.Requests, r => r.Body.StartsWith('[')).Body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("-32600", body, StringComparison.Ordinal);
        var events = await WaitForEventsAsync(events => events.Count(e => (string?)e["method"] == "tools/call") >= 2);
        var calls = events.Where(e => (string?)e["method"] == "tools/call").ToList();
        Assert.Equal(["1", "2"], calls.Select(e => (string?)e["jsonRpcId"]).Order());
        Assert.All(calls, e =>
        {
            Assert.Equal("upstream_error", (string?)e["outcome"]);
            Assert.Equal(400, (int)e["httpStatus"]!);
            Assert.Equal("0", (string?)e["cost"]);
        });
        using var single = await _bed.PostRpcAsync(Server, EchoCall(3, "one at a time"), configure: r => WithSession(r, session, "2025-03-26"));
        Assert.Equal(HttpStatusCode.OK, single.StatusCode);
        Assert.Contains("one at a time", await single.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task UsePaidPlanAsync()
    {
        await _bed.SetPricingAsync(Server, new
        {
            model = "usage",
            currency = "USD",
            usage = new { chargeModel = "standard", tiers = new object[] { new { upTo = (long?)null, pricePer1k = "5" } } },
        });
        await _bed.SubscribeAsync(Server);
    }

    /// <summary>Initializes a session at a given protocol version (the testbed's helper uses 2025-06-18).</summary>
    private async Task<string> InitializeSessionAsync(string protocolVersion)
    {
        using var response = await _bed.PostRpcAsync(Server,
            Initialize(0, protocolVersion));
        response.EnsureSuccessStatusCode();
        Assert.Contains($"\"protocolVersion\":\"{protocolVersion}\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var session = response.Headers.GetValues("Mcp-Session-Id").Single();
        using var initialized = await _bed.PostRpcAsync(Server, """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            configure: r => WithSession(r, session, protocolVersion));
        initialized.EnsureSuccessStatusCode();
        return session;
    }

    private static void WithSession(HttpRequestMessage request, string session, string protocolVersion)
    {
        request.Headers.Add("Mcp-Session-Id", session);
        request.Headers.Add("MCP-Protocol-Version", protocolVersion);
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string serverName, Action<HttpRequestMessage> configure)
    {
        var request = new HttpRequestMessage(method, GatewayTestbed.Path_(serverName));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bed.Consumer.Key);
        configure(request);
        return _bed.App.CreateClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>The gateway still answers afterwards: a fresh listing on the MCP upstream serves a tool call.</summary>
    private async Task AssertGatewayStillServesAsync()
    {
        const string healthy = "com.ultrarepo.alice/healthy";
        await _bed.PublishAsync(healthy, _bed.Upstream.StreamableEndpoint);
        var session = await _bed.InitializeAsync(healthy);
        using var call = await _bed.PostRpcAsync(healthy, EchoCall(99, "after"), configure: r => GatewayTestbed.WithSession(r, session));
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Contains("\"after\"", await call.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private void AssertNoErrorsLogged() =>
        Assert.DoesNotContain(_bed.App.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal));

    /// <summary>The consumer's usage events once <paramref name="done"/> holds (events are recorded just after the response).</summary>
    private async Task<List<JsonNode>> WaitForEventsAsync(Func<List<JsonNode>, bool> done)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var events = await _bed.EventsAsync();
            if (done(events) || clock.Elapsed > TimeSpan.FromSeconds(5))
            {
                return events;
            }

            await Task.Delay(25);
        }
    }

    private sealed record SseMessage(string? Id, string? Type, string Data);

    /// <summary>The next SSE event (data lines joined with newlines), or null at the end of the stream.</summary>
    private static async Task<SseMessage?> ReadEventAsync(StreamReader reader)
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        string? id = null, type = null;
        var data = new List<string>();
        var any = false;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (any)
                {
                    return new SseMessage(id, type, string.Join("\n", data));
                }

                continue;
            }

            any = true;
            if (line.StartsWith("id:", StringComparison.Ordinal))
            {
                id = line[3..].Trim();
            }
            else if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                type = line[6..].Trim();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Add(line[5..].TrimStart());
            }
        }

        return any ? new SseMessage(id, type, string.Join("\n", data)) : null;
    }

    /// <summary>A body sent without Content-Length (chunked on a real connection).</summary>
    private sealed class UnknownLengthContent : HttpContent
    {
        private readonly byte[] _bytes;

        public UnknownLengthContent(byte[] bytes)
        {
            _bytes = bytes;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
