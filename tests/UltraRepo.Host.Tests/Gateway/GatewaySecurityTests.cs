using System.Diagnostics.Tracing;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Domain.Registry;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Registry;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>Who may call what through the gateway, and what never leaks.</summary>
public sealed class GatewaySecurityTests : IAsyncLifetime
{
    private const string Free = "com.ultrarepo.alice/free";
    private const string Metered = "com.ultrarepo.alice/metered";
    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";
    private GatewayTestbed _bed = null!;
    private UpstreamMcpServer _metered = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(upstream: o => o.Stateless = true);
        _metered = await UpstreamMcpServer.StartAsync(o => o.Stateless = true);
        await _bed.PublishAsync(Free, _bed.Upstream.StreamableEndpoint);
        await _bed.PublishAsync(Metered, _metered.StreamableEndpoint);
        await _bed.SetPricingAsync(Metered, new { model = "usage", currency = "USD", usage = new { pricePer1k = "0.01" } });
    }

    public async Task DisposeAsync()
    {
        await _bed.DisposeAsync();
        await _metered.DisposeAsync();
    }

    private static async Task<JsonNode> ErrorOf(HttpResponseMessage response) => (await response.ReadJsonAsync())["error"]!;

    [Fact]
    public async Task MissingKey_Returns401WithBearerChallengeAndJsonRpcError()
    {
        var response = await _bed.App.CreateClient().PostAsync(GatewayTestbed.Path_(Free), new StringContent(Call, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(-32001, (int)(await ErrorOf(response))["code"]!);
        Assert.Empty(_bed.Upstream.Requests);
    }

    [Fact]
    public async Task RevokedKey_Returns401()
    {
        var keys = await (await _bed.Consumer.Cookies.GetAsync("/api/keys")).ReadJsonAsync();
        (await _bed.Consumer.Cookies.DeleteAsync($"/api/keys/{(string)keys[0]!["id"]!}")).EnsureSuccessStatusCode();

        var response = await _bed.PostRpcAsync(Free, Call);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task ConsumersKeyAndCookies_NeverReachTheUpstream()
    {
        var response = await _bed.PostRpcAsync(Free, Call, configure: r => r.Headers.Add("Cookie", "ultrarepo.session=secret-cookie"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = _bed.Upstream.Requests.ToList();
        Assert.NotEmpty(seen);
        foreach (var request in seen)
        {
            Assert.Null(request.Header("Authorization"));
            Assert.Null(request.Header("Cookie"));
            Assert.DoesNotContain(request.Headers, h => h.Value.Any(v => v.Contains(_bed.Consumer.Key, StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task UpstreamCredential_IsInjectedEncryptedAtRestAndNeverShown()
    {
        await using var guarded = await UpstreamMcpServer.StartAsync(o =>
        {
            o.Stateless = true;
            o.RequiredAuthorizationHeaderName = "X-Upstream-Key";
            o.RequiredAuthorizationHeaderValue = "s3cret-upstream-value";
        });
        const string name = "com.ultrarepo.alice/guarded";
        await _bed.PublishAsync(name, guarded.StreamableEndpoint);

        var before = await _bed.PostRpcAsync(name, Call);
        Assert.Equal(HttpStatusCode.BadGateway, before.StatusCode);
        Assert.Contains("credentials", (string)(await ErrorOf(before))["message"]!);

        var set = await _bed.Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(name)}/gateway",
            new { credential = new { header = "X-Upstream-Key", value = "s3cret-upstream-value" } });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.DoesNotContain("s3cret", await set.Content.ReadAsStringAsync());
        await _bed.WaitForCatalogAsync(name, l => l.CredentialHeader == "X-Upstream-Key");

        var after = await _bed.PostRpcAsync(name, Call);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal("s3cret-upstream-value", guarded.Requests.Last().Header("X-Upstream-Key"));

        using var scope = _bed.App.Services.CreateScope();
        var stored = await scope.ServiceProvider.GetRequiredService<MarketplaceDb>().Listings.SingleAsync(l => l.ServerName == name);
        Assert.NotNull(stored.UpstreamHeaderSecret);
        Assert.DoesNotContain("s3cret", System.Text.Encoding.UTF8.GetString(stored.UpstreamHeaderSecret!));
        var shown = await _bed.Publisher.Api.GetStringAsync($"/api/servers/{Uri.EscapeDataString(name)}/gateway");
        Assert.DoesNotContain("s3cret", shown);
        Assert.Contains("\"credentialConfigured\":true", shown);
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.Consumer.Api.GetAsync($"/api/servers/{Uri.EscapeDataString(name)}/gateway")).StatusCode);
    }

    [Fact]
    public async Task UsageListing_WithoutSubscription_Returns403ThatSaysHowToFixIt()
    {
        var response = await _bed.PostRpcAsync(Metered, Call);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("subscription_required", (string?)error["data"]!["reason"]);
        Assert.Contains("POST /api/subscriptions", (string?)error["data"]!["fix"]);
        Assert.Equal("denied", (string?)(await _bed.EventsAsync()).Single()["outcome"]);
    }

    [Fact]
    public async Task OneConsumer_CannotUseOrCancelAnothersSubscription()
    {
        await _bed.SubscribeAsync(Metered);
        var carol = await _bed.App.CreateUserAsync("carol");
        var bobs = await (await _bed.Consumer.Api.GetAsync("/api/subscriptions")).ReadJsonAsync();
        var bobsId = (string)bobs[0]!["id"]!;

        var carolCalls = await _bed.PostRpcAsync(Metered, Call, carol);
        var carolCancels = await carol.Api.DeleteAsync($"/api/subscriptions/{bobsId}");
        var carolLists = await carol.Api.GetStringAsync("/api/subscriptions");
        var bobCalls = await _bed.PostRpcAsync(Metered, Call);

        Assert.Equal(HttpStatusCode.Forbidden, carolCalls.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, carolCancels.StatusCode);
        Assert.DoesNotContain(bobsId, carolLists);
        Assert.Equal(HttpStatusCode.OK, bobCalls.StatusCode);
    }

    [Fact]
    public async Task CancelledSubscription_StopsAccess()
    {
        await _bed.SubscribeAsync(Metered);
        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Metered, Call)).StatusCode);
        var id = (string)(await (await _bed.Consumer.Api.GetAsync("/api/subscriptions")).ReadJsonAsync())[0]!["id"]!;

        Assert.Equal(HttpStatusCode.NoContent, (await _bed.Consumer.Api.DeleteAsync($"/api/subscriptions/{id}")).StatusCode);

        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.PostRpcAsync(Metered, Call)).StatusCode);
    }

    [Fact]
    public async Task LicensedListing_WithoutLicense_Returns403LicenseRequired()
    {
        await _bed.SetPricingAsync(Free, new { model = "license", currency = "USD", license = new { price = "19.00" } });

        var response = await _bed.PostRpcAsync(Free, Call);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("license_required", (string?)error["data"]!["reason"]);
        Assert.Contains("/v0.1/servers/", (string?)error["data"]!["fix"]);
    }

    [Fact]
    public async Task FreeListing_CreatesTheSubscriptionOnFirstUse()
    {
        Assert.Empty((await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/subscriptions"))!);

        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Free, Call)).StatusCode);

        Assert.Equal(Free, (string?)(await _bed.Consumer.Api.GetFromJsonAsync<JsonArray>("/api/subscriptions"))![0]!["server"]);
    }

    [Theory]
    [InlineData("https://evil.example", HttpStatusCode.Forbidden)]
    [InlineData("http://localhost:5080", HttpStatusCode.OK)]
    [InlineData(null, HttpStatusCode.OK)]
    public async Task Origin_IsValidatedAgainstTheAllowList(string? origin, HttpStatusCode expected)
    {
        var response = await _bed.PostRpcAsync(Free, Call, configure: r =>
        {
            if (origin is not null)
            {
                r.Headers.Add("Origin", origin);
            }
        });

        Assert.Equal(expected, response.StatusCode);
        Assert.All(_bed.Upstream.Requests, r => Assert.Null(r.Header("Origin")));
    }

    [Fact]
    public async Task Logs_NeverContainKeysOrUpstreamCredentials()
    {
        (await _bed.Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(Free)}/gateway", new { credential = new { header = "X-Api-Key", value = "never-log-this-credential" } })).EnsureSuccessStatusCode();
        await _bed.WaitForCatalogAsync(Free, l => l.CredentialHeader == "X-Api-Key");
        await _bed.PostRpcAsync(Free, Call);
        await _bed.PostRpcAsync(Free, "{broken");
        await _bed.PostRpcAsync(Metered, Call);
        var stranger = _bed.App.CreateClient();
        stranger.DefaultRequestHeaders.Authorization = new("Bearer", "urk_thisIsNotAValidKeyButLooksLikeOne000000");
        await stranger.PostAsync(GatewayTestbed.Path_(Free), new StringContent(Call));

        var logs = string.Join('\n', _bed.App.Logs.Lines);
        Assert.NotEmpty(_bed.App.Logs.Lines);
        Assert.DoesNotContain(_bed.Consumer.Key, logs);
        Assert.DoesNotContain(_bed.Publisher.Key, logs);
        Assert.DoesNotContain("urk_thisIsNotAValidKey", logs);
        Assert.DoesNotContain("never-log-this-credential", logs);
    }

    [Fact]
    public async Task Metrics_ExposeTokensRequestsOverheadStreamsAndRejections()
    {
        await _bed.PostRpcAsync(Free, Call);
        await _bed.PostRpcAsync(Metered, Call);

        var metrics = await _bed.App.CreateClient().GetStringAsync("/metrics");

        Assert.Contains($"mcp_tokens_total{{server=\"{Free}\",direction=\"input\"}}", metrics);
        Assert.Contains($"mcp_requests_total{{server=\"{Free}\",method=\"tools/call\",outcome=\"ok\"}}", metrics);
        Assert.Contains($"mcp_limit_rejections_total{{server=\"{Metered}\",reason=\"subscription_required\"}}", metrics);
        Assert.Contains("mcp_gateway_overhead_seconds_bucket", metrics);
        Assert.Contains("mcp_request_duration_seconds_bucket", metrics);
        Assert.Contains("# TYPE mcp_active_streams gauge", metrics);
    }

    [Fact]
    public async Task Metrics_ListenToEventCounters_WithoutSwitchingOnPerRequestEvents()
    {
        await _bed.PostRpcAsync(Free, Call);
        await _bed.App.CreateClient().GetStringAsync("/metrics");

        // The hosting and HTTP client sources write an Informational event at every request's start and stop; the
        // Prometheus adapter listens to them for their counters, which are written at LogAlways, so Critical suffices.
        var sources = EventSource.GetSources().Where(s => s.Name is "Microsoft.AspNetCore.Hosting" or "System.Net.Http").ToList();
        Assert.Equal(2, sources.Count);
        Assert.All(sources, source =>
        {
            Assert.True(source.IsEnabled(EventLevel.Critical, EventKeywords.None), $"{source.Name} is listened to");
            Assert.False(source.IsEnabled(EventLevel.Informational, EventKeywords.None), $"{source.Name} writes per-request events");
        });
    }
}

/// <summary>Publisher URLs are untrusted: private upstreams are refused at connect time, after DNS.</summary>
public sealed class GatewaySsrfTests : IAsyncLifetime
{
    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";
    private GatewayTestbed _bed = null!;

    public async Task InitializeAsync() =>
        _bed = await GatewayTestbed.StartAsync(configure: s => s["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "false", upstream: o => o.Stateless = true);

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    /// <summary>Stores a listing without publish-time checks, as if the address had changed behind a public name.</summary>
    private async Task ListAsync(string name, Uri remote)
    {
        using var scope = _bed.App.Services.CreateScope();
        var publisher = scope.ServiceProvider.GetRequiredService<PublishServer>();
        var server = new ServerJson { Name = name, Description = "x", Version = "1.0.0", Remotes = [new Transport { Type = "streamable-http", Url = remote.ToString() }] };
        var outcome = await publisher.StoreAsync(server, null, EntryOrigin.Published, CancellationToken.None);
        Assert.IsType<PublishOutcome.Published>(outcome);
        await _bed.WaitForRouteAsync(name);
    }

    [Fact]
    public async Task LoopbackUpstream_IsRefusedWith502AndNeverContacted()
    {
        await ListAsync("com.ultrarepo.alice/loopback", _bed.Upstream.StreamableEndpoint);

        var response = await _bed.PostRpcAsync("com.ultrarepo.alice/loopback", Call);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("not allowed", (string)(await response.ReadJsonAsync())["error"]!["message"]!);
        Assert.Empty(_bed.Upstream.Requests);
    }

    [Fact]
    public async Task PublicLookingNameThatResolvesToLoopback_IsRefusedAfterDns()
    {
        await using var bed = await GatewayTestbed.StartAsync(
            configure: s => s["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "false",
            upstream: o => o.Stateless = true,
            services: s => s.AddSingleton<UltraRepo.Gateway.IUpstreamResolver>(new RebindingResolver("mcp.rebind.example")));
        var remote = new UriBuilder(bed.Upstream.StreamableEndpoint) { Host = "mcp.rebind.example" }.Uri;
        var published = await bed.Publisher.Api.PostAsJsonAsync("/v0.1/publish", Json.Server("com.ultrarepo.alice/rebind", remotes: new[] { new { type = "streamable-http", url = remote.ToString() } }));
        Assert.Equal(HttpStatusCode.OK, published.StatusCode);
        await bed.WaitForRouteAsync("com.ultrarepo.alice/rebind");

        var response = await bed.PostRpcAsync("com.ultrarepo.alice/rebind", Call);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Empty(bed.Upstream.Requests);
    }

    /// <summary>A DNS answer that turns a public-looking name into loopback (DNS rebinding).</summary>
    private sealed class RebindingResolver(string name) : UltraRepo.Gateway.IUpstreamResolver
    {
        public async ValueTask<System.Net.IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
            host == name ? [System.Net.IPAddress.Loopback] : await System.Net.Dns.GetHostAddressesAsync(host, ct);
    }
}
