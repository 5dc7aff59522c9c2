using System.Net;
using System.Text;
using System.Text.Json;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>
/// A minimal MCP upstream on a loopback port: any JSON-RPC request with an id gets a tools/call result (one
/// short text block) as <c>application/json</c>, echoing the id; notifications get 202.
/// </summary>
public sealed class FakeUpstream : IAsyncDisposable
{
    private static readonly byte[] Tail = Encoding.UTF8.GetBytes(
        ""","result":{"content":[{"type":"text","text":"Forecast for Lisbon: sunny, 21°C, light wind from the north-west. Tomorrow: clouds in the morning, clearing by noon."}],"isError":false}}""");

    private readonly WebApplication _app;

    private FakeUpstream(WebApplication app) => _app = app;

    public Uri Url => new(new Uri(_app.Urls.First()), "/mcp");

    public static async Task<FakeUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapPost("/mcp", AnswerAsync);
        await app.StartAsync();
        return new FakeUpstream(app);
    }

    private static async Task AnswerAsync(HttpContext http)
    {
        using var request = await JsonDocument.ParseAsync(http.Request.Body);
        if (!request.RootElement.TryGetProperty("id", out var id))
        {
            http.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        var head = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":" + id.GetRawText());
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = head.Length + Tail.Length;
        await http.Response.Body.WriteAsync(head);
        await http.Response.Body.WriteAsync(Tail);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
