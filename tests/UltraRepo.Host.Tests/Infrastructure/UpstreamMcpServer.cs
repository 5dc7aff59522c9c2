using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace UltraRepo.Host.Tests.Infrastructure;

/// <summary>
/// A real MCP server on its own Kestrel host (loopback, free port), so gateway tests cross real TCP
/// the way production traffic does. It records every inbound request and also serves a few raw,
/// deliberately broken endpoints for the gateway's error handling.
/// </summary>
/// <remarks>
/// URLs, relative to <see cref="BaseAddress"/>:
/// <list type="bullet">
/// <item><c>/mcp</c>: Streamable HTTP (POST; GET and DELETE too when stateful).</item>
/// <item><c>/legacy/sse</c> (GET) and <c>/legacy/message?sessionId=…</c> (POST): the 2024-11-05 HTTP+SSE transport,
/// when <see cref="UpstreamOptions.EnableLegacySse"/> and not <see cref="UpstreamOptions.Stateless"/>. The SDK maps the same
/// pair under every MapMcp prefix, so <c>/mcp/sse</c> and <c>/legacy</c> (Streamable HTTP) also answer.</item>
/// <item><c>/raw/json-echo</c>, <c>/raw/malformed-json</c>, <c>/raw/malformed-sse</c>, <c>/raw/hang</c>, <c>/raw/sse-slow?delayMs=</c>,
/// <c>/raw/status/{code}</c>, <c>/raw/json-result</c>: POST only, not MCP.</item>
/// <item><c>/raw/eager-sse</c> (GET) and <c>/raw/eager-message?sessionId=…</c> (POST): a bare HTTP+SSE server that puts each
/// request's answer on the stream before it answers the POST with 202.</item>
/// </list>
/// </remarks>
public sealed class UpstreamMcpServer : IAsyncDisposable
{
    /// <summary>The text of every tool result <c>/raw/json-result</c> answers with.</summary>
    public const string JsonResultText = "answered as plain JSON";

    /// <summary>The text of every tool result <c>/raw/eager-message</c> puts on its stream.</summary>
    public const string EagerResultText = "answered before accepted";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, System.Threading.Channels.Channel<(string Json, TaskCompletionSource Sent)>> _eagerStreams = new();
    private int _activeRequests;
    private int _activeStreams;
    private int _abortedRequests;

    private UpstreamMcpServer(WebApplication app, UpstreamOptions options)
    {
        _app = app;
        Options = options;
    }

    public UpstreamOptions Options { get; }

    /// <summary>The bound address, e.g. <c>http://127.0.0.1:54321/</c> (always with a trailing slash).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary><c>{base}/mcp</c>, the Streamable HTTP endpoint.</summary>
    public Uri StreamableEndpoint => new(BaseAddress, "mcp");

    /// <summary><c>{base}/legacy/sse</c>; only answers when the legacy transport is on (see <see cref="LegacySseEnabled"/>).</summary>
    public Uri LegacySseEndpoint => new(BaseAddress, "legacy/sse");

    /// <summary>Whether the HTTP+SSE transport is mapped: asked for, and the server is stateful (the SDK refuses it otherwise).</summary>
    public bool LegacySseEnabled => Options.EnableLegacySse && !Options.Stateless;

    /// <summary>Every inbound request, in arrival order, recorded before authorization and before the endpoint runs.</summary>
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Requests whose handler has not finished yet.</summary>
    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    /// <summary>In-flight responses with <c>Content-Type: text/event-stream</c> (POST streams, GET streams, legacy SSE).</summary>
    public int ActiveStreams => Volatile.Read(ref _activeStreams);

    /// <summary>Requests that ended because the caller went away (the gateway cancelled or dropped the connection).</summary>
    public int AbortedRequests => Volatile.Read(ref _abortedRequests);

    /// <summary><c>{base}/raw/{pathAndQuery}</c>, e.g. <c>Raw("sse-slow?delayMs=300")</c>.</summary>
    public Uri Raw(string pathAndQuery) => new(BaseAddress, "raw/" + pathAndQuery);

    public static async Task<UpstreamMcpServer> StartAsync(Action<UpstreamOptions>? configure = null)
    {
        var options = new UpstreamOptions();
        configure?.Invoke(options);

        var builder = WebApplication.CreateSlimBuilder();
        // Nothing from the test process (environment variables, an appsettings.json copied from the marketplace) may
        // add Kestrel endpoints or settings to this host.
        builder.Configuration.Sources.Clear();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        // Open SSE streams would otherwise hold shutdown for the default 30 s.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(1));
        AddMcp(builder.Services, options);

        var app = builder.Build();
        var server = new UpstreamMcpServer(app, options);
        app.Use(server.RecordAsync);
        app.Use(server.AuthorizeAsync);
        app.MapMcp("/mcp");
        if (server.LegacySseEnabled)
        {
            app.MapMcp("/legacy");
        }

        MapRaw(app.MapGroup("/raw"));
        server.MapEagerLegacySse(app.MapGroup("/raw"));

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    private static void AddMcp(IServiceCollection services, UpstreamOptions options)
    {
        var mcp = services
            .AddMcpServer(server => server.ServerInfo = new Implementation { Name = "ultrarepo-test-upstream", Version = "1.0.0" })
            .WithHttpTransport(transport =>
            {
                transport.Stateless = options.Stateless;
#pragma warning disable MCP9004 // The legacy transport is deprecated, which is exactly why the gateway must be tested against it.
                transport.EnableLegacySse = options.EnableLegacySse && !options.Stateless;
#pragma warning restore MCP9004
            })
            .WithTools<UpstreamTools>()
            .WithPrompts<UpstreamPrompts>()
            .WithResources<UpstreamResources>();

        if (options.Resumable && !options.Stateless)
        {
            services.AddDistributedMemoryCache();
#pragma warning disable MCP9006 // Resumability only exists in stateful mode, which these tests use on purpose.
            mcp.WithDistributedCacheEventStreamStore();
#pragma warning restore MCP9006
        }
    }

    private async Task RecordAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        request.EnableBuffering();
        using (var reader = new StreamReader(request.Body, Encoding.UTF8, leaveOpen: true))
        {
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            request.Body.Position = 0;
            var headers = request.Headers.ToDictionary(
                header => header.Key, header => header.Value.Select(value => value ?? "").ToArray(), StringComparer.OrdinalIgnoreCase);
            Requests.Enqueue(new RecordedRequest(request.Method, request.Path + request.QueryString, headers, body));
        }

        var isStream = false;
        context.Response.OnStarting(() =>
        {
            if (context.Response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true)
            {
                isStream = true;
                Interlocked.Increment(ref _activeStreams);
            }

            return Task.CompletedTask;
        });

        Interlocked.Increment(ref _activeRequests);
        try
        {
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref _activeRequests);
            if (isStream)
            {
                Interlocked.Decrement(ref _activeStreams);
            }

            if (context.RequestAborted.IsCancellationRequested)
            {
                Interlocked.Increment(ref _abortedRequests);
            }
        }
    }

    private Task AuthorizeAsync(HttpContext context, RequestDelegate next)
    {
        if (Options.RequiredAuthorizationHeaderName is not { } name)
        {
            return next(context);
        }

        var presented = context.Request.Headers[name];
        var accepted = Options.RequiredAuthorizationHeaderValue is { } expected ? presented == expected : presented.Count > 0;
        if (accepted)
        {
            return next(context);
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        return context.Response.WriteAsync("missing or wrong upstream credential");
    }

    private static void MapRaw(RouteGroupBuilder raw)
    {
        raw.MapPost("/malformed-json", (HttpContext context) =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[");
        });

        raw.MapPost("/malformed-sse", async (HttpContext context) =>
        {
            var id = await RequestIdAsync(context.Request);
            StartEventStream(context.Response);
            await context.Response.WriteAsync("event: message\ndata: not json\n\n");
            await context.Response.WriteAsync("data: {still not json\n\n");
            await WriteResultAsync(context.Response, id, "ok");
        });

        raw.MapPost("/hang", async (HttpContext context, IHostApplicationLifetime lifetime) =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // The caller gave up (or the host is stopping): exactly what this endpoint waits for.
            }
        });

        raw.MapPost("/sse-slow", async (HttpContext context, IHostApplicationLifetime lifetime, int delayMs = 500) =>
        {
            var id = await RequestIdAsync(context.Request);
            StartEventStream(context.Response);
            await context.Response.WriteAsync(
                "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"raw\",\"progress\":1,\"total\":2}}\n\n");
            await context.Response.Body.FlushAsync();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            await Task.Delay(delayMs, stop.Token);
            await WriteResultAsync(context.Response, id, "late");
        });

        // A valid JSON-RPC answer as application/json (the SDK server only answers with SSE): one tool result per
        // request, echoing its id; an array (batch) gets an array of results, one per element that has an id.
        raw.MapPost("/json-result", async (HttpContext context) =>
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            var root = body.RootElement;
            var answer = root.ValueKind == JsonValueKind.Array
                ? "[" + string.Join(",", root.EnumerateArray().Where(HasId).Select(JsonResult)) + "]"
                : JsonResult(root);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(answer);
        });

        // Answers a tools/call with its own arguments.text, as JSON with a Content-Length (the gateway holds such answers).
        raw.MapPost("/json-echo", async (HttpContext context) =>
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            var root = body.RootElement;
            var text = root.GetProperty("params").GetProperty("arguments").GetProperty("text").GetString();
            var answer = JsonSerializer.SerializeToUtf8Bytes(new
            {
                jsonrpc = "2.0",
                id = root.GetProperty("id"),
                result = new { content = new[] { new { type = "text", text } } },
            });
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = answer.Length;
            await context.Response.Body.WriteAsync(answer);
        });

        raw.MapPost("/status/{code:int}", (int code) => Results.Text($"upstream status {code}", "text/plain", statusCode: code));
    }

    // Legal HTTP+SSE, and the order a fast server produces: the response is on the stream before the POST's 202.
    private void MapEagerLegacySse(RouteGroupBuilder raw)
    {
        raw.MapGet("/eager-sse", async (HttpContext context, IHostApplicationLifetime lifetime) =>
        {
            var session = Guid.NewGuid().ToString("N");
            var outbox = System.Threading.Channels.Channel.CreateUnbounded<(string Json, TaskCompletionSource Sent)>();
            _eagerStreams[session] = outbox;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
            try
            {
                StartEventStream(context.Response);
                await context.Response.WriteAsync($"event: endpoint\ndata: /raw/eager-message?sessionId={session}\n\n", stop.Token);
                await context.Response.Body.FlushAsync(stop.Token);
                await foreach (var (json, sent) in outbox.Reader.ReadAllAsync(stop.Token))
                {
                    await context.Response.WriteAsync($"event: message\ndata: {json}\n\n", stop.Token);
                    await context.Response.Body.FlushAsync(stop.Token);
                    sent.TrySetResult();
                }
            }
            catch (OperationCanceledException)
            {
                // The caller closed the stream (or the host is stopping).
            }
            finally
            {
                _eagerStreams.TryRemove(session, out _);
            }
        });

        raw.MapPost("/eager-message", async (HttpContext context, string sessionId) =>
        {
            if (!_eagerStreams.TryGetValue(sessionId, out var outbox))
            {
                return Results.NotFound();
            }

            var id = await RequestIdAsync(context.Request);
            var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await outbox.Writer.WriteAsync(
                ($"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{EagerResultText}\"}}]}}}}", sent));
            await sent.Task.WaitAsync(TimeSpan.FromSeconds(5));
            // Long enough for the answer to cross whatever proxy sits in between before the acceptance does.
            await Task.Delay(200);
            return Results.Text("Accepted", "text/plain", statusCode: StatusCodes.Status202Accepted);
        });
    }

    private static void StartEventStream(HttpResponse response)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    private static Task WriteResultAsync(HttpResponse response, string id, string text) =>
        response.WriteAsync($"event: message\ndata: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}]}}}}\n\n");

    private static bool HasId(JsonElement message) => message.ValueKind == JsonValueKind.Object && message.TryGetProperty("id", out _);

    private static string JsonResult(JsonElement request) =>
        $"{{\"jsonrpc\":\"2.0\",\"id\":{(HasId(request) ? request.GetProperty("id").GetRawText() : "1")},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{JsonResultText}\"}}]}}}}";

    /// <summary>The JSON-RPC id of the posted request, as raw JSON, so a gateway that renumbers ids still matches; <c>1</c> otherwise.</summary>
    private static async Task<string> RequestIdAsync(HttpRequest request)
    {
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            return body.RootElement.TryGetProperty("id", out var id) ? id.GetRawText() : "1";
        }
        catch (JsonException)
        {
            return "1";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed class UpstreamOptions
{
    /// <summary>False (default): stateful sessions with <c>Mcp-Session-Id</c>, GET streams, DELETE, sampling and elicitation.</summary>
    public bool Stateless { get; set; }

    /// <summary>Maps the 2024-11-05 HTTP+SSE transport under <c>/legacy</c>. Ignored when <see cref="Stateless"/> (the SDK requires sessions for it).</summary>
    public bool EnableLegacySse { get; set; } = true;

    /// <summary>
    /// Gives SSE events ids (after an empty <c>event: prime</c>) and replays them on <c>GET</c> with <c>Last-Event-ID</c>.
    /// The SDK only does this for sessions that negotiated 2025-11-25 or later. Ignored when <see cref="Stateless"/>.
    /// </summary>
    public bool Resumable { get; set; } = true;

    /// <summary>When set, every request without this header (with <see cref="RequiredAuthorizationHeaderValue"/>, if set) gets 401.</summary>
    public string? RequiredAuthorizationHeaderName { get; set; }

    public string? RequiredAuthorizationHeaderValue { get; set; }
}

/// <summary>One inbound request as the upstream saw it; header names compare case-insensitively.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string[]> Headers, string Body)
{
    /// <summary>The header's values joined with a comma, or null when absent.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var values) ? string.Join(",", values) : null;
}
