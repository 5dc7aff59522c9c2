using System.Net;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Gateway;

/// <summary>A consumer's header the gateway could not forward is the consumer's error, never the upstream's outage.</summary>
public sealed class GatewayRequestHeaderTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/headers";
    private const string Call = """{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";
    private GatewayTestbed _bed = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(upstream: o => o.Stateless = true);
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private void AssertNoUpstreamFailureLogged() =>
        Assert.DoesNotContain(_bed.App.Logs.Lines, l => l.Contains("failed", StringComparison.OrdinalIgnoreCase) && l.Contains(Server, StringComparison.Ordinal));

    private static async Task AssertRefusedNaming(HttpResponseMessage response, string header)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync())["error"]!;
        Assert.Equal(-32600, (int)error["code"]!);
        Assert.Equal(header, (string?)error["data"]!["header"]);
        Assert.Contains(header, (string)error["message"]!);
    }

    [Fact]
    public async Task NonAsciiMcpName_OnPost_Is400NamingTheHeaderAndRecordedAsTheConsumersError()
    {
        var response = await _bed.PostRpcAsync(Server, Call, configure: r => r.Headers.TryAddWithoutValidation("Mcp-Name", "\u00ff"));

        await AssertRefusedNaming(response, "Mcp-Name");
        Assert.Empty(_bed.Upstream.Requests);
        var recorded = Assert.Single(await _bed.EventsAsync());
        Assert.Equal("rpc_error", (string?)recorded["outcome"]);
        Assert.Equal(400, (int)recorded["httpStatus"]!);
        AssertNoUpstreamFailureLogged();
        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Server, Call)).StatusCode);
    }

    [Theory]
    [InlineData("GET", "Last-Event-ID", "\u00ff")]
    [InlineData("DELETE", "Mcp-Session-Id", "a\u00ff")]
    [InlineData("POST", "Mcp-Session-Id", "a\u00ff")]
    public async Task NonAsciiHeader_OnAnyMethod_Is400NamingTheHeader(string method, string header, string value)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), GatewayTestbed.Path_(Server));
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new("Bearer", _bed.Consumer.Key);
        request.Headers.TryAddWithoutValidation(header, value);
        if (method == "POST")
        {
            request.Content = new StringContent(Call, System.Text.Encoding.UTF8, "application/json");
        }

        var response = await _bed.App.CreateClient().SendAsync(request);

        await AssertRefusedNaming(response, header);
        Assert.Empty(_bed.Upstream.Requests);
        AssertNoUpstreamFailureLogged();
    }
}
