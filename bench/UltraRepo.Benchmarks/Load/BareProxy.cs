using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace UltraRepo.Benchmarks.Load;

/// <summary>
/// A reference point, not a product: the least a reverse proxy can do on this machine. Kestrel plus one pooled
/// HttpClient that streams each POST to the upstream and the response back, with no routing table, no
/// authentication, no metering and no usage events. The gateway's cost above this is its own work; the cost
/// of this is the extra hop any proxy pays.
/// </summary>
internal static class BareProxy
{
    public const string Command = "--serve-bare-proxy";
    public const string ReadyPath = "/ready";
    private static readonly string[] ForwardedHeaders = ["Accept", "MCP-Protocol-Version", "Mcp-Session-Id"];

    public static async Task RunAsync(Uri upstream, Uri listen)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, listen.Port);
        });
        using var client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        });
        await using var app = builder.Build();
        app.MapGet(ReadyPath, () => "ready");
        app.MapPost("/{**path}", (HttpContext http) => ForwardAsync(http, client, upstream));
        await app.RunAsync();
    }

    private static async Task ForwardAsync(HttpContext http, HttpMessageInvoker client, Uri upstream)
    {
        var target = new Uri(upstream, http.Request.Path.Value + http.Request.QueryString.Value);
        using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StreamContent(http.Request.Body) };
        request.Content.Headers.ContentLength = http.Request.ContentLength;
        request.Content.Headers.TryAddWithoutValidation("Content-Type", http.Request.ContentType);
        foreach (var name in ForwardedHeaders)
        {
            if (http.Request.Headers.TryGetValue(name, out var value))
            {
                request.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)value!);
            }
        }

        using var response = await client.SendAsync(request, http.RequestAborted);
        http.Response.StatusCode = (int)response.StatusCode;
        http.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        http.Response.ContentLength = response.Content.Headers.ContentLength;
        await using var body = await response.Content.ReadAsStreamAsync(http.RequestAborted);
        await body.CopyToAsync(http.Response.Body, http.RequestAborted);
    }
}
