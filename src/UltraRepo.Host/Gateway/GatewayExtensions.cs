using System.Diagnostics.Tracing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Prometheus;
using UltraRepo.Budgets;
using UltraRepo.Metering;
using UltraRepo.Registry;
using UltraRepo.Subscriptions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace UltraRepo.Gateway;

public static class GatewayExtensions
{
    public static IHostApplicationBuilder AddGateway(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        ConfigureMeterExport();
        services.AddOptions<GatewayOptions>().BindConfiguration("Gateway");
        services.AddSingleton(SecretBox.FromConfiguration(builder.Configuration));
        services.AddSingleton<GatewayCatalog>();
        services.AddSingleton<GatewayCatalogRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<GatewayCatalogRefresher>());
        services.AddSingleton<OriginPolicy>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<LegacySseSessions>();
        services.AddSingleton<MeteringStep>();
        services.AddHostedService<TokenizerWarmup>();
        services.AddSingleton<Entitlements>();
        services.TryAddSingleton<ILicenseCheck, NoLicenses>();
        services.AddSingleton<BudgetCache>();
        services.AddSingleton<BudgetAlerts>();
        services.TryAddSingleton<IUsageCounters, InMemoryUsageCounters>();
        services.TryAddSingleton<IKeyRateLimiter, InMemoryKeyRateLimiter>();

        services.AddReverseProxy().AddTransforms(context =>
        {
            context.AddRequestTransform(AimAtUpstream);
            context.AddResponseTransform(HideUpstreamAuthFailures);
            context.AddResponseTransform(EndOnlyAfterMetering);
        });
        services.AddSingleton<IProxyConfigProvider, RegistryProxyConfigProvider>();
        services.TryAddSingleton<IUpstreamResolver, DnsUpstreamResolver>();
        services.Replace(ServiceDescriptor.Singleton<IForwarderHttpClientFactory, UpstreamGuard>());
        return builder;
    }

    /// <summary>Meters whose per-request instruments cost more than they tell (the gateway has its own series).</summary>
    private static readonly string[] PerRequestMeters =
    [
        "System.Net.Http", "System.Net.NameResolution", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting",
        "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.MemoryPool",
    ];

    /// <summary>
    /// /metrics publishes .NET's meters too, but not the per-request ones: translating every HTTP client and server
    /// measurement (and, since .NET 10, every rent and return of Kestrel's buffers) into Prometheus series took 7%
    /// of the gateway's CPU under load. Runtime meters stay. The event counters (runtime, Kestrel, HTTP) are still
    /// published, but their sources are listened to at the Critical level only: counter payloads are written at
    /// LogAlways and pass, while the Informational level prometheus-net uses by default also switched on each
    /// source's per-request events (request and connection start and stop), formatted and dispatched for nothing.
    /// </summary>
    private static void ConfigureMeterExport()
    {
        Metrics.ConfigureMeterAdapter(options => options.InstrumentFilterPredicate = instrument => !PerRequestMeters.Contains(instrument.Meter.Name));
        Metrics.ConfigureEventCounterAdapter(options =>
            options.EventSourceSettingsProvider = _ => new EventCounterAdapterEventSourceSettings { MinimumLevel = EventLevel.Critical });
    }

    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder app)
    {
        var refresher = app.ServiceProvider.GetRequiredService<GatewayCatalogRefresher>();
        app.ServiceProvider.GetRequiredService<RegistryCache>().Changed += refresher.Signal;
        var step = app.ServiceProvider.GetRequiredService<MeteringStep>();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.Use(step.InvokeAsync);
            pipeline.UseLoadBalancing();
        });
        // Any other path under /mcp/ names no routable listing: a JSON-RPC error, like every other gateway answer. The
        // listings' own routes are more specific and win.
        app.Map("/mcp/{**path}", (HttpContext http, string? path) => GatewayErrors.WriteAsync(http, 404, GatewayErrors.NotFound,
            $"no listing is routable through the gateway at /mcp/{path}; use /mcp/{{namespace}}/{{server}} of a listing with a streamable-http or sse remote"))
            .ExcludeFromDescription();
        app.MapMetrics("/metrics");
        app.MapGatewaySettingsApi();
        return app;
    }

    /// <summary>
    /// An upstream's 401/407 is about the publisher's credentials, not the consumer's key: it becomes a
    /// 502 saying so (and the upstream's authentication challenge is not passed on).
    /// </summary>
    private static async ValueTask HideUpstreamAuthFailures(ResponseTransformContext context)
    {
        if (context.ProxyResponse?.StatusCode is not (System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.ProxyAuthenticationRequired)
            || context.HttpContext.Features.Get<GatewayRequest>() is null)
        {
            return;
        }

        context.SuppressResponseBody = true;
        var response = context.HttpContext.Response;
        response.Headers.Remove("WWW-Authenticate");
        response.Headers.ContentLength = null;
        await GatewayErrors.WriteAsync(context.HttpContext, 502, GatewayErrors.UpstreamFailed,
            "the upstream server refused the gateway's credentials; the listing's publisher must update them",
            context.HttpContext.Items[MeteringStep.ExchangeIdItem] as string);
    }

    /// <summary>
    /// The upstream's Content-Length is dropped so the response is framed (chunked, or HTTP/2 end of stream)
    /// by the gateway: the client sees the end of a response only after its usage event was recorded. A small
    /// JSON answer to a POST keeps it: the tap holds that body whole and sends it once the exchange is settled
    /// (one write instead of the body and then the final chunk).
    /// </summary>
    private static ValueTask EndOnlyAfterMetering(ResponseTransformContext context)
    {
        if (context.HttpContext.Features.Get<GatewayRequest>() is { } target && !context.SuppressResponseBody
            && !(target.HoldsSmallJson && ResponseTapStream.HoldsWhole(context.HttpContext.Response)))
        {
            context.HttpContext.Response.Headers.ContentLength = null;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Sends the request to the upstream the metering step chose, without the consumer's credentials
    /// (Authorization, cookies), with the publisher's configured credential header, uncompressed (so the
    /// response can be counted as it passes) and without the browser Origin (validated here already).
    /// </summary>
    private static ValueTask AimAtUpstream(RequestTransformContext context)
    {
        if (context.HttpContext.Features.Get<GatewayRequest>() is not { } target)
        {
            return ValueTask.CompletedTask;
        }

        context.DestinationPrefix = target.Destination.GetLeftPart(UriPartial.Query);
        context.Path = PathString.Empty;
        context.Query.Collection.Clear();
        var headers = context.ProxyRequest.Headers;
        headers.Remove("Authorization");
        headers.Remove("Cookie");
        headers.Remove("Origin");
        headers.Remove("Accept-Encoding");
        if (target.CredentialHeader is { } name && target.CredentialValue is { } value)
        {
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, value);
        }

        context.ProxyRequest.Options.Set(UpstreamGuard.AllowLoopback, target.AllowLoopback);
        return ValueTask.CompletedTask;
    }
}
