using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering;
using UltraRepo.Metering.Spool;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>
/// What makes the crash guarantee hold: on a real connection, the client cannot have the complete response before
/// the request's usage event is in the spool. The spool append is held back here, and the client must still be
/// waiting for the end of the body.
/// </summary>
public sealed class EventBeforeResponseTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/ordering";
    private readonly GatedSink _sink = new();
    private MarketplaceApp _app = null!;

    public Task InitializeAsync()
    {
        _app = new MarketplaceApp(Provider.Sqlite,
            settings =>
            {
                settings["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true";
                settings["Gateway:CatalogRefreshInterval"] = "00:00:00.200";
            },
            services => services.AddSingleton<IUsageSink>(sp => _sink.Over(sp.GetRequiredService<UsageSpool>())));
        _app.UseKestrel(0);
        _app.StartServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    /// <summary>The SDK's Streamable HTTP answer: an event stream, chunked; its last chunk only goes once the gateway is done.</summary>
    [Fact]
    public async Task EventStreamResponse_IsNotCompleteForTheClientBeforeTheEventIsSpooled()
    {
        await using var upstream = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        await AssertEventSpooledBeforeResponseCompletesAsync(upstream.StreamableEndpoint);
    }

    /// <summary>
    /// Streamable HTTP also allows a plain <c>application/json</c> answer, which many servers send with a Content-Length.
    /// A small one keeps it: the gateway holds the body whole (headers included) and sends it once the event is spooled.
    /// </summary>
    [Fact]
    public async Task SmallJsonResponseWithContentLength_IsHeldWholeUntilTheEventIsSpooled()
    {
        await using var upstream = await JsonUpstream.StartAsync(padding: 0);
        var response = await AssertEventSpooledBeforeResponseCompletesAsync(upstream.Endpoint);
        Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
    }

    /// <summary>A larger JSON body flows to the client as it arrives, chunked: its last chunk goes after the event.</summary>
    [Fact]
    public async Task LargeJsonResponseWithContentLength_IsNotCompleteForTheClientBeforeTheEventIsSpooled()
    {
        await using var upstream = await JsonUpstream.StartAsync(padding: 100_000);
        var response = await AssertEventSpooledBeforeResponseCompletesAsync(upstream.Endpoint);
        Assert.True(response.Headers.TransferEncodingChunked);
    }

    /// <summary>If the usage event cannot be spooled, the consumer never receives the held answer complete.</summary>
    [Fact]
    public async Task SmallJsonAnswer_WhoseEventCannotBeSpooled_NeverReachesTheClientComplete()
    {
        await using var upstream = await JsonUpstream.StartAsync(padding: 0);
        using var http = _app.CreateClient();
        var key = await PublishAsync(upstream.Endpoint, http);
        _sink.Failing = true;
        _sink.Release();

        var request = ToolCall(43, "lost", key);
        string? answer = null;
        try
        {
            using var response = await http.SendAsync(request);
            answer = response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : null;
        }
        catch (HttpRequestException)
        {
            // The connection was cut: the answer did not arrive either.
        }

        Assert.Null(answer);
        Assert.Equal(0, _sink.Recorded);
    }

    /// <summary>
    /// An upstream that promises a small JSON body and drops the connection halfway: nothing of it was sent yet, so the
    /// consumer gets a clean 502 with a JSON-RPC error instead of half a body, and the exchange is recorded as failed.
    /// </summary>
    [Fact]
    public async Task SmallJsonBodyCutShortUpstream_Becomes502WithAJsonRpcError()
    {
        await using var upstream = await JsonUpstream.StartAsync(padding: 0, truncate: true);
        using var http = _app.CreateClient();
        var key = await PublishAsync(upstream.Endpoint, http);
        _sink.Release();

        var request = ToolCall(42, "cut", key);
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(42, error.RootElement.GetProperty("id").GetInt32());
        Assert.Equal(-32010, error.RootElement.GetProperty("error").GetProperty("code").GetInt32()); // upstream failed
        await Eventually.WaitUntilAsync(() => _sink.Recorded == 1, TimeSpan.FromSeconds(10));
    }

    private async Task<HttpResponseMessage> AssertEventSpooledBeforeResponseCompletesAsync(Uri upstream)
    {
        using var http = _app.CreateClient();
        var key = await PublishAsync(upstream, http);

        var request = ToolCall(41, "ordered", key);
        var sending = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = ReadBodyAsync(sending);

        // The gateway is about to spool the event (and is held there).
        await Eventually.WaitUntilAsync(() => _sink.Waiting > 0, TimeSpan.FromSeconds(10));
        var early = await Task.WhenAny(body, Task.Delay(TimeSpan.FromSeconds(1))) == body;
        _sink.Release();

        var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("41", await body, StringComparison.Ordinal);
        Assert.False(early, $"the client had the complete response ({response.Content.Headers.ContentType}, Content-Length {response.Content.Headers.ContentLength}) before its usage event was spooled");
        Assert.Equal(1, _sink.Recorded);
        return response;
    }

    /// <summary>Publishes <see cref="Server"/> on <paramref name="upstream"/>, waits until its route is loaded, returns a consumer's key.</summary>
    private async Task<string> PublishAsync(Uri upstream, HttpClient http)
    {
        var publisher = await _app.CreateUserAsync("alice");
        var consumer = await _app.CreateUserAsync("bob");
        var published = await publisher.Api.PostAsJsonAsync("/v0.1/publish", Json.Server(Server, remotes: new[] { new { type = "streamable-http", url = upstream.ToString() } }));
        published.EnsureSuccessStatusCode();
        await WaitForRouteAsync(http);
        return consumer.Key;
    }

    private static HttpRequestMessage ToolCall(int id, string text, string consumerKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp/" + Server)
        {
            Content = new StringContent(JsonSerializer.Serialize(new { jsonrpc = "2.0", id, method = "tools/call", @params = new { name = "echo", arguments = new { text } } }),
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", consumerKey);
        return request;
    }

    private static async Task<string> ReadBodyAsync(Task<HttpResponseMessage> sending) => await (await sending).Content.ReadAsStringAsync();

    private static async Task WaitForRouteAsync(HttpClient http)
    {
        for (var i = 0; i < 400; i++)
        {
            if ((await http.PostAsync("/mcp/" + Server, new StringContent("{}"))).StatusCode == HttpStatusCode.Unauthorized)
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"the gateway never routed {Server}");
    }

    /// <summary>Holds every append until released.</summary>
    private sealed class GatedSink : IUsageSink
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private UsageSpool? _spool;
        private int _waiting;
        private int _recorded;

        public int Waiting => Volatile.Read(ref _waiting);

        public int Recorded => Volatile.Read(ref _recorded);

        /// <summary>Appends fail (a full or broken disk) once released.</summary>
        public bool Failing { get; set; }

        public GatedSink Over(UsageSpool spool)
        {
            _spool = spool;
            return this;
        }

        public void Release() => _open.TrySetResult();

        public async ValueTask RecordAsync(UsageEvent usage, CancellationToken ct)
        {
            Interlocked.Increment(ref _waiting);
            await _open.Task.WaitAsync(ct);
            if (Failing)
            {
                throw new IOException("No space left on device");
            }

            await _spool!.RecordAsync(usage, ct);
            Interlocked.Increment(ref _recorded);
        }
    }

    /// <summary>
    /// A Streamable HTTP server that answers every POST with one JSON-RPC result as application/json with a Content-Length
    /// (its text padded with <c>padding</c> characters).
    /// </summary>
    private sealed class JsonUpstream : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private JsonUpstream(WebApplication app, Uri endpoint)
        {
            _app = app;
            Endpoint = endpoint;
        }

        public Uri Endpoint { get; }

        public static async Task<JsonUpstream> StartAsync(int padding, bool truncate = false)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration.Sources.Clear();
            builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            app.MapPost("/mcp", async (HttpContext context) =>
            {
                using var request = await JsonDocument.ParseAsync(context.Request.Body);
                var id = request.RootElement.GetProperty("id").GetRawText();
                var answer = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ordered" + new string('x', padding) + "\"}]}}");
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = answer.Length;
                if (truncate)
                {
                    // Half the promised body, then the connection drops.
                    await context.Response.Body.WriteAsync(answer.AsMemory(0, answer.Length / 2));
                    await context.Response.Body.FlushAsync();
                    context.Abort();
                    return;
                }

                await context.Response.Body.WriteAsync(answer);
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            return new JsonUpstream(app, new Uri(address.TrimEnd('/') + "/mcp"));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
