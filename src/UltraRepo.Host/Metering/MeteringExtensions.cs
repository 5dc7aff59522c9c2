using UltraRepo.Data;
using UltraRepo.Metering.Spool;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Metering;

public static class MeteringExtensions
{
    /// <summary>The usage pipeline: the spool (what requests record into), the shipper, and the store for the configured database.</summary>
    public static IHostApplicationBuilder AddUsagePipeline(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SpoolOptions>().BindConfiguration("Usage:Spool");
        services.AddSingleton<UsageSpool>();
        services.AddSingleton<IUsageSink>(sp => sp.GetRequiredService<UsageSpool>());
        services.AddSingleton<IUsageStore>(sp =>
        {
            var database = sp.GetRequiredService<DatabaseOptions>();
            return database.Provider == DatabaseProvider.Postgres ? new PostgresUsageStore(database) : new SqliteUsageStore(database);
        });
        services.AddSingleton<UsageShipper>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageShipper>());
        services.AddSingleton<IRecordedUsage, DatabaseRecordedUsage>();
        services.AddScoped<Ingest.IngestUsage>();
        services.AddOptions<UsageRetentionOptions>().BindConfiguration("Usage:Retention");
        services.AddSingleton<UsageMaintenance>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageMaintenance>());
        return builder;
    }

    public static IEndpointRouteBuilder MapUsagePipeline(this IEndpointRouteBuilder app)
    {
        app.MapUsageApi();
        app.MapDashboardApi();
        Ingest.IngestApi.MapIngestApi(app);
        return app;
    }
}
