using System.Net;
using System.Net.Http.Json;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>A publisher's upstream credential: what the settings refuse, so that no setting can break the listing's traffic.</summary>
public sealed class GatewaySettingsTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/settings";
    private const string Call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";
    private GatewayTestbed _bed = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(upstream: o => o.Stateless = true);
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private Task<HttpResponseMessage> PutAsync(object settings) =>
        _bed.Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(Server)}/gateway", settings);

    private static readonly string[] RefusedNames =
    [
        "Content-Encoding", "Content-Range", "Content-Language", "Content-Disposition", "Expires", "Last-Modified", "Allow",
        "Content-Type", "Content-Length", "content-location",
        "X-Key\n", "X-Key\r\nX-Evil", "X Key", "X:Key", "X-Kéy", "",
        "Connection", "Upgrade", "TE", "Trailer", "Keep-Alive", "Transfer-Encoding", "Proxy-Authorization", "Proxy-Connection", "Expect", "Host",
        "Mcp-Session-Id", "Mcp-Method", "Mcp-Name", "MCP-Protocol-Version", "Last-Event-ID", "Accept-Encoding", "Origin",
    ];

    [Fact]
    public async Task RefusedHeaderNames_Return400NamingTheHeader_AndTrafficKeepsWorking()
    {
        foreach (var name in RefusedNames)
        {
            var response = await PutAsync(new { credential = new { header = name, value = "gzip" } });

            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{name}: {response.StatusCode}");
            var errors = (await response.ReadJsonAsync())["errors"]!.AsArray();
            Assert.Equal("body.credential.header", (string?)errors.Single()!["location"]);
        }

        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Server, Call)).StatusCode);
        Assert.DoesNotContain(_bed.App.Logs.Lines, l => l.Contains("failed", StringComparison.OrdinalIgnoreCase) && l.Contains(Server, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("clé-non-ascii")]
    [InlineData("\u00a0nbsp")]
    [InlineData("a\u2028b")]
    [InlineData("token\r\nX-Evil: 1")]
    [InlineData("token\n")]
    [InlineData(" leading")]
    [InlineData("trailing\t")]
    [InlineData("")]
    public async Task RefusedHeaderValues_Return400NamingTheValueWithoutEchoingIt_AndTrafficKeepsWorking(string value)
    {
        var response = await PutAsync(new { credential = new { header = "X-Api-Key", value } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync())["errors"]!.AsArray().Single()!;
        Assert.Equal("body.credential.value", (string?)error["location"]);
        Assert.Null(error["value"]);
        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Server, Call)).StatusCode);
    }

    [Fact]
    public async Task CredentialAndRemoveCredentialTogether_Return400()
    {
        var response = await PutAsync(new { removeCredential = true, credential = new { header = "X-Api-Key", value = "k" } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.removeCredential", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task AuthorizationBearer_IsAllowedAndReachesTheUpstreamInsteadOfTheConsumersKey()
    {
        await using var guarded = await UpstreamMcpServer.StartAsync(o =>
        {
            o.Stateless = true;
            o.RequiredAuthorizationHeaderName = "Authorization";
            o.RequiredAuthorizationHeaderValue = "Bearer publisher-token.v1~x";
        });
        const string name = "com.ultrarepo.alice/bearer";
        await _bed.PublishAsync(name, guarded.StreamableEndpoint);

        var set = await _bed.Publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString(name)}/gateway",
            new { credential = new { header = "Authorization", value = "Bearer publisher-token.v1~x" } });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        await _bed.WaitForCatalogAsync(name, l => l.CredentialHeader == "Authorization");

        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(name, Call)).StatusCode);
    }
}
