using Microsoft.Extensions.Options;
using UltraRepo.Registry;

namespace UltraRepo.Billing.Stripe;

/// <summary>
/// <c>Billing:Stripe</c>. Setting <see cref="SecretKey"/> makes Stripe the payment provider (instead of manual
/// payments) and maps its webhook at <see cref="StripeWebhookApi.Path"/>.
/// </summary>
public sealed class StripeOptions
{
    public const string Section = "Billing:Stripe";

    /// <summary>Where Stripe puts the Checkout Session id in the success URL.</summary>
    public const string SessionIdPlaceholder = "{CHECKOUT_SESSION_ID}";

    /// <summary>A secret (<c>sk_…</c>) or restricted (<c>rk_…</c>) API key.</summary>
    public string? SecretKey { get; set; }

    /// <summary>The webhook endpoint's signing secret (<c>whsec_…</c>).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Stripe's API address; only a stand-in for tests changes it.</summary>
    public string ApiBase { get; set; } = "https://api.stripe.com";

    /// <summary>Where Checkout returns the buyer after paying; defaults under <c>ULTRAREPO_PUBLIC_URL</c>.</summary>
    public string? SuccessUrl { get; set; }

    /// <summary>Where Checkout returns the buyer who gives up; defaults under <c>ULTRAREPO_PUBLIC_URL</c>.</summary>
    public string? CancelUrl { get; set; }

    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[$"{Section}:SecretKey"]);
}

internal sealed class StripeOptionsSetup(IOptions<RegistryOptions> registry) : IPostConfigureOptions<StripeOptions>, IValidateOptions<StripeOptions>
{
    public void PostConfigure(string? name, StripeOptions options)
    {
        var site = registry.Value.PublicUrl.TrimEnd('/');
        options.SuccessUrl ??= $"{site}/licenses?checkout=success&session_id={StripeOptions.SessionIdPlaceholder}";
        options.CancelUrl ??= $"{site}/licenses?checkout=cancelled";
    }

    public ValidateOptionsResult Validate(string? name, StripeOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.WebhookSecret))
        {
            failures.Add($"{StripeOptions.Section}:WebhookSecret is required with {StripeOptions.Section}:SecretKey: payments are confirmed only by signed webhooks (the endpoint's whsec_… secret from the Stripe dashboard or `stripe listen`).");
        }

        if (!Uri.TryCreate(options.ApiBase, UriKind.Absolute, out var api) || api.Scheme is not ("https" or "http"))
        {
            failures.Add($"{StripeOptions.Section}:ApiBase must be an absolute http(s) URL such as https://api.stripe.com (was '{options.ApiBase}').");
        }

        foreach (var (key, url) in new[] { ("SuccessUrl", options.SuccessUrl), ("CancelUrl", options.CancelUrl) })
        {
            if (!Uri.TryCreate(url?.Replace(StripeOptions.SessionIdPlaceholder, "x", StringComparison.Ordinal), UriKind.Absolute, out _))
            {
                failures.Add($"{StripeOptions.Section}:{key} must be an absolute URL (was '{url}').");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
