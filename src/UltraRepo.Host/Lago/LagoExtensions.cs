using UltraRepo.Metering;

namespace UltraRepo.Lago;

/// <summary>
/// The optional Lago sync: with <c>Lago:ApiUrl</c> and <c>Lago:ApiKey</c> set, billable usage is also
/// forwarded to Lago and admins can export listings' pricing as Lago plans. Without them nothing registers.
/// </summary>
public static class LagoExtensions
{
    public static IHostApplicationBuilder AddLagoSync(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection("Lago").Get<LagoOptions>() ?? new LagoOptions();
        if (!options.IsConfigured)
        {
            return builder;
        }

        options.Validate();
        var services = builder.Services;
        services.AddOptions<LagoOptions>().BindConfiguration("Lago");
        services.AddLagoHttpClient();
        // The factory's per-request lines would log every batch at Information.
        builder.Logging.AddFilter("System.Net.Http.HttpClient." + LagoClient.HttpClientName, LogLevel.Warning);
        services.AddSingleton<LagoClient>();
        services.AddSingleton<LagoForwarder>();
        services.AddSingleton<IShippedUsageObserver>(sp => sp.GetRequiredService<LagoForwarder>());
        services.AddHostedService(sp => sp.GetRequiredService<LagoForwarder>());
        services.AddScoped<LagoPlanExport>();
        return builder;
    }

    /// <summary>The admin export endpoint; it answers 404 with what to configure while the sync is off.</summary>
    public static IEndpointRouteBuilder MapLagoSync(this IEndpointRouteBuilder app) => app.MapLagoApi();
}
