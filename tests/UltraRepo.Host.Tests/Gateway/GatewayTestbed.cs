using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using UltraRepo.Gateway;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering;
using Yarp.ReverseProxy;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>
/// Two real hosts: the marketplace (gateway under test) and an upstream MCP server on a real port;
/// a publisher (alice) who lists the upstream and a consumer (bob) who calls it through the gateway.
/// </summary>
public sealed class GatewayTestbed : IAsyncDisposable
{
    private GatewayTestbed(MarketplaceApp app, UpstreamMcpServer upstream, TestUser publisher, TestUser consumer)
    {
        App = app;
        Upstream = upstream;
        Publisher = publisher;
        Consumer = consumer;
    }

    public MarketplaceApp App { get; }
    public UpstreamMcpServer Upstream { get; }
    public TestUser Publisher { get; }
    public TestUser Consumer { get; }

    public static async Task<GatewayTestbed> StartAsync(
        Provider provider = Provider.Sqlite,
        Action<Dictionary<string, string?>>? configure = null,
        Action<UpstreamOptions>? upstream = null,
        Action<IServiceCollection>? services = null)
    {
        var server = await UpstreamMcpServer.StartAsync(upstream);
        var app = new MarketplaceApp(provider, settings =>
        {
            settings["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true";
            settings["Gateway:CatalogRefreshInterval"] = "00:00:00.200";
            configure?.Invoke(settings);
        }, services);
        var alice = await app.CreateUserAsync("alice");
        var bob = await app.CreateUserAsync("bob");
        return new GatewayTestbed(app, server, alice, bob);
    }

    public static string Path_(string serverName) => "/mcp/" + serverName;

    /// <summary>Publishes a listing for a remote and waits until the gateway routes it.</summary>
    public async Task PublishAsync(string serverName, Uri remote, string version = "1.0.0", string type = "streamable-http", TestUser? publisher = null)
    {
        var response = await (publisher ?? Publisher).Api.PostAsJsonAsync("/v0.1/publish", Json.Server(serverName, version, remotes: new[] { new { type, url = remote.ToString() } }));
        response.EnsureSuccessStatusCode();
        await WaitForRouteAsync(serverName, version);
    }

    /// <summary>Waits (up to 10 s) until this node's gateway catalog holds the listing in the expected state (settings apply asynchronously).</summary>
    public Task WaitForCatalogAsync(string serverName, Func<GatewayListing, bool> condition)
    {
        var catalog = App.Services.GetRequiredService<GatewayCatalog>();
        return Eventually.WaitUntilAsync(() => catalog.Find(serverName) is { } listing && condition(listing), TimeSpan.FromSeconds(10),
            $"the gateway catalog's change to {serverName}");
    }

    public async Task SetPricingAsync(string serverName, object pricing)
    {
        var response = await Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(serverName)}/pricing", pricing);
        response.EnsureSuccessStatusCode();
    }

    public async Task SubscribeAsync(string serverName, TestUser? consumer = null)
    {
        var response = await (consumer ?? Consumer).Api.PostAsJsonAsync("/api/subscriptions", new { server = serverName });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// Waits until the proxy routes the listing at this version: the catalog has it, the proxy's state
    /// points at the expected upstream, and the endpoint answers (401 without a key) rather than the
    /// framework's 404. Routes reload in the background after a registry change.
    /// </summary>
    public async Task WaitForRouteAsync(string serverName, string? version = null)
    {
        var catalog = App.Services.GetRequiredService<GatewayCatalog>();
        var proxy = App.Services.GetRequiredService<IProxyStateLookup>();
        var probe = App.CreateClient();
        for (var i = 0; i < 400; i++)
        {
            var listing = catalog.Find(serverName);
            if (listing is not null && (version is null || listing.Versions.ContainsKey(version))
                && proxy.TryGetRoute("l:" + serverName, out var route)
                && proxy.TryGetCluster(route.Config.ClusterId!, out var cluster)
                && cluster.Destinations.Values.Any(d => d.Model.Config.Address == listing.ClusterAddress.Url.ToString())
                && (await probe.PostAsync(Path_(serverName), new StringContent("{}"))).StatusCode == System.Net.HttpStatusCode.Unauthorized)
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"the gateway never routed {serverName}");
    }

    /// <summary>An MCP client (the official SDK) connected through the gateway with the consumer's key.</summary>
    public async Task<McpClient> ConnectAsync(string serverName, TestUser? consumer = null, McpClientOptions? options = null, HttpTransportMode mode = HttpTransportMode.StreamableHttp)
    {
        var http = App.CreateClient();
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(App.Server.BaseAddress, Path_(serverName)),
            TransportMode = mode,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + (consumer ?? Consumer).Key },
        }, http, ownsHttpClient: true);
        return await McpClient.CreateAsync(transport, options);
    }

    /// <summary>Posts a raw JSON-RPC body through the gateway.</summary>
    public Task<HttpResponseMessage> PostRpcAsync(string serverName, string body, TestUser? consumer = null, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Path_(serverName))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        var key = (consumer ?? Consumer).Key;
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        configure?.Invoke(request);
        return App.CreateClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>Initializes a session with raw JSON-RPC and returns its id (null for stateless upstreams).</summary>
    public async Task<string?> InitializeAsync(string serverName, TestUser? consumer = null)
    {
        var response = await PostRpcAsync(serverName, """{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""", consumer);
        response.EnsureSuccessStatusCode();
        await response.Content.ReadAsStringAsync();
        var session = response.Headers.TryGetValues("Mcp-Session-Id", out var values) ? values.First() : null;
        var initialized = await PostRpcAsync(serverName, """{"jsonrpc":"2.0","method":"notifications/initialized"}""", consumer, r => WithSession(r, session));
        initialized.EnsureSuccessStatusCode();
        return session;
    }

    public static void WithSession(HttpRequestMessage request, string? session)
    {
        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
        }

        request.Headers.Add("MCP-Protocol-Version", "2025-06-18");
    }

    /// <summary>The consumer's usage events once everything recorded so far is in the database, oldest first.</summary>
    public async Task<List<JsonNode>> EventsAsync(TestUser? consumer = null, string? server = null)
    {
        await SettledAsync();
        var page = await (consumer ?? Consumer).Api.GetFromJsonAsync<JsonNode>("/api/consumer/usage/events?limit=500" + (server is null ? "" : "&server=" + Uri.EscapeDataString(server)));
        return page!["events"]!.AsArray().Select(e => e!).Reverse().ToList();
    }

    /// <summary>Waits until no request is inside the gateway and every usage event is in the database.</summary>
    public async Task SettledAsync()
    {
        var step = App.Services.GetRequiredService<MeteringStep>();
        for (var i = 0; i < 400 && step.ActiveExchanges > 0; i++)
        {
            await Task.Delay(10);
        }

        var shipper = App.Services.GetRequiredService<UsageShipper>();
        for (var i = 0; i < 1000 && shipper.Pending > 0; i++)
        {
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}
