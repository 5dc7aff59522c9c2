using System.Text.Json.Serialization;
using Scalar.AspNetCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Billing;
using UltraRepo.Budgets;
using UltraRepo.Demo;
using UltraRepo.Gateway;
using UltraRepo.Subscriptions;
using UltraRepo.Http;
using UltraRepo.Lago;
using UltraRepo.Metering;
using UltraRepo.Registry;
using UltraRepo.ScaleOut;

namespace UltraRepo.Hosting;

/// <summary>Composes the marketplace's features into one host.</summary>
public static class MarketplaceHost
{
    public const string DefaultUrl = "http://localhost:5080";

    public static WebApplicationBuilder AddMarketplace(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Warning);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<RequestBodyErrors>();
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase));
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        });
        builder.Services.AddOpenApi();
        builder.Services.AddOptions<DemoOptions>().BindConfiguration("Demo");
        builder.Services.AddScoped<DemoData>();

        builder.AddMarketplaceDatabase();
        builder.AddAccounts();
        builder.AddRegistry();
        builder.AddDemoMcpServer();
        builder.AddScaleOut();
        builder.AddUsagePipeline();
        builder.AddGateway();
        builder.AddBilling();
        builder.AddLagoSync();
        builder.Services.AddSingleton(TimeProvider.System);
        return builder;
    }

    public static WebApplication MapMarketplace(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseOutputCache();

        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/docs", o => o.WithTitle("UltraRepo API"));
        app.MapHealthChecks("/healthz");
        app.MapAccounts();
        app.MapRegistry();
        app.MapDemoMcpServer();
        app.MapSubscriptionsApi();
        app.MapBudgetsApi();
        app.MapGateway();
        app.MapUsagePipeline();
        app.MapBillingApi();
        app.MapLagoSync();
        app.MapGet("/", () => Results.Redirect("/docs")).ExcludeFromDescription();
        return app;
    }
}
