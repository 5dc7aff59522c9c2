using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using UltraRepo.Catalog;
using UltraRepo.Gateway;
using UltraRepo.Pricing;

namespace UltraRepo.Registry;

public static class RegistryExtensions
{
    public static IHostApplicationBuilder AddRegistry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RegistryOptions>()
            .BindConfiguration("Registry")
            .Configure<IConfiguration>((o, config) =>
            {
                if (bool.TryParse(config["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"], out var allow))
                {
                    o.AllowPrivateRemotes = allow;
                }

                o.PublicUrl = config["ULTRAREPO_PUBLIC_URL"] ?? o.PublicUrl;
            });
        builder.Services.AddSingleton<RegistryWriteLock>();
        var caching = builder.Configuration.GetValue("Registry:ResponseCaching", true);
        builder.Services.AddOutputCache(o => RegistryCache.Configure(o, caching));
        builder.Services.AddSingleton<RegistryCache>();
        builder.Services.AddScoped<PublishServer>();
        builder.Services.AddScoped<UpdateServerStatus>();
        builder.Services.AddScoped<RegistryQueries>();
        builder.Services.AddScoped<RegistryImporter>();
        builder.Services.AddScoped<PricingCatalog>();
        builder.Services.TryAddSingleton<IUpstreamResolver, DnsUpstreamResolver>();
        // The importer fetches admin-given URLs: like the gateway, it connects (redirects included) only
        // to public addresses after DNS, unless ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS is set.
        builder.Services.AddHttpClient(nameof(RegistryImporter), c => c.Timeout = RegistryImporter.PageTimeout)
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var resolver = sp.GetRequiredService<IUpstreamResolver>();
                var allowPrivate = sp.GetRequiredService<IOptions<RegistryOptions>>().Value.AllowPrivateRemotes;
                return new SocketsHttpHandler
                {
                    MaxAutomaticRedirections = 5,
                    ConnectCallback = (context, ct) => UpstreamGuard.ConnectPublicAsync(context, resolver, allowPrivate, ct),
                };
            });
        return builder;
    }

    public static IEndpointRouteBuilder MapRegistry(this IEndpointRouteBuilder app)
    {
        app.MapRegistryApi();
        app.MapRegistryAdminApi();
        app.MapPricingApi();
        app.MapCatalogApi();
        return app;
    }
}
