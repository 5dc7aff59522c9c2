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
        return builder;
    }
}
