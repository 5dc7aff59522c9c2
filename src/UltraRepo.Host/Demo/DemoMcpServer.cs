using ModelContextProtocol.Protocol;

namespace UltraRepo.Demo;

/// <summary>The host's own small MCP server at <c>/demo/mcp</c>, listed in the demo catalogue so the whole flow works offline.</summary>
public static class DemoMcpServer
{
    public const string Path = "/demo/mcp";

    public static IHostApplicationBuilder AddDemoMcpServer(this IHostApplicationBuilder builder)
    {
        builder.Services.AddDistributedMemoryCache();
#pragma warning disable MCP9006 // sessions and resumable streams are what the demo shows off
        builder.Services
            .AddMcpServer(o => o.ServerInfo = new Implementation { Name = "ultrarepo-demo", Version = "1.0.0" })
            .WithHttpTransport(o => o.Stateless = false)
            .WithDistributedCacheEventStreamStore()
            .WithTools<DemoTools>()
            .WithPrompts<DemoPrompts>()
            .WithResources<DemoResources>();
#pragma warning restore MCP9006
        return builder;
    }

    public static IEndpointRouteBuilder MapDemoMcpServer(this IEndpointRouteBuilder app)
    {
        app.MapMcp(Path).WithTags("Demo");
        return app;
    }
}
