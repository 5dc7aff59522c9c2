using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace UltraRepo.Billing.Stripe;

public static class StripeExtensions
{
    /// <summary>Stripe as the payment provider (replacing manual payments) and its webhook endpoint.</summary>
    public static IHostApplicationBuilder AddStripePayments(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<StripeOptions>().BindConfiguration(StripeOptions.Section).ValidateOnStart();
        services.AddSingleton<StripeOptionsSetup>();
        services.AddSingleton<IPostConfigureOptions<StripeOptions>>(s => s.GetRequiredService<StripeOptionsSetup>());
        services.AddSingleton<IValidateOptions<StripeOptions>>(s => s.GetRequiredService<StripeOptionsSetup>());
        services.Replace(ServiceDescriptor.Singleton<IPaymentProvider, StripePayments>());
        services.AddScoped<StripeEvents>();
        services.AddTransient<IStartupFilter, StripeWebhookStartup>();
        return builder;
    }
}

/// <summary>
/// Mounts the webhook ahead of the rest of the pipeline, on its own branch: the host maps the billing API
/// from <c>MapBillingApi</c>, which the Stripe provider does not own. The branch has no authentication
/// (the signature is the authentication) and answers errors as problem+json.
/// </summary>
internal sealed class StripeWebhookStartup : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.MapWhen(context => context.Request.Path.StartsWithSegments(StripeWebhookApi.Path, StringComparison.OrdinalIgnoreCase), webhook =>
        {
            webhook.UseExceptionHandler();
            webhook.UseRouting();
            webhook.UseEndpoints(endpoints => endpoints.MapStripeWebhook());
        });
        next(app);
    };
}
