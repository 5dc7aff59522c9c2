using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using UltraRepo.Billing.Stripe;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Metering;
using UltraRepo.Subscriptions;

namespace UltraRepo.Billing;

public static class BillingExtensions
{
    public static IHostApplicationBuilder AddBilling(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<BillingOptions>().BindConfiguration("Billing");
        services.AddOptions<MailOptions>().BindConfiguration("Billing:Mail");
        services.TryAddSingleton<IPaymentProvider, ManualPayments>();
        if (StripeOptions.IsConfigured(builder.Configuration))
        {
            // Billing:Stripe:SecretKey set: Stripe replaces manual payments and POST /api/payments/stripe/webhook is mapped.
            builder.AddStripePayments();
        }

        services.AddSingleton<IInvoiceMailer, InvoiceMailer>();
        services.AddSingleton<LicenseSigner>();
        services.Replace(ServiceDescriptor.Singleton<ILicenseCheck, DatabaseLicenseCheck>());
        services.AddScoped<CloseBillingPeriod>();
        services.AddScoped<InvoicePayments>();
        services.AddScoped<LicenseSales>();
        services.AddScoped<PayoutRun>();
        services.AddScoped<Reconciliation>();
        services.AddScoped<DashboardApi.IDraftInvoices, DraftInvoices>();
        services.AddHostedService<ScheduledClose>();
        return builder;
    }
}

/// <summary>The invoice shown with a consumer's month: the final one once the month is closed, else a draft from the usage so far.</summary>
public sealed class DraftInvoices(MarketplaceDb db, CloseBillingPeriod close) : DashboardApi.IDraftInvoices
{
    public async Task<object?> ForConsumerAsync(Guid consumerId, string month, CancellationToken ct)
    {
        var final = await db.Invoices.AsNoTracking().Include(i => i.Lines).Where(i => i.ConsumerId == consumerId && i.Period == month).ToListAsync(ct);
        if (final.Count > 0 || await db.BillingPeriods.AnyAsync(p => p.Period == month, ct))
        {
            return final.Select(BillingApi.ToResponse).ToList();
        }

        var drafts = await close.DraftAllAsync(month, ct, consumerId);
        return drafts.Select(d => new
        {
            status = "draft",
            period = month,
            currency = d.Draft.Currency,
            total = Money.Format(d.Draft.Total, d.Draft.Currency),
            amountDue = Money.Format(d.Draft.AmountDue, d.Draft.Currency),
            lines = d.Draft.Lines.Select((l, i) => new
            {
                position = i + 1,
                kind = CloseBillingPeriod.Kinds[l.Kind],
                server = l.ServerName,
                description = l.Description,
                tokens = l.Tokens,
                tiers = l.Tiers,
                amount = Money.Format(l.Amount, d.Draft.Currency),
                exactAmount = Money.Format(l.ExactAmount),
            }),
        }).ToList();
    }
}

/// <summary>Closes each month automatically once its grace period has passed (every node may try; closing is idempotent).</summary>
public sealed class ScheduledClose(IServiceScopeFactory scopes, IOptions<BillingOptions> options, TimeProvider clock, ILogger<ScheduledClose> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.ScheduledClose)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var now = clock.GetUtcNow().UtcDateTime;
                var previous = BillingApi.Month(new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(-1));
                await using var scope = scopes.CreateAsyncScope();
                var close = scope.ServiceProvider.GetRequiredService<CloseBillingPeriod>();
                var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
                if (close.IsClosable(previous) && !await db.BillingPeriods.AnyAsync(p => p.Period == previous, stoppingToken)
                    && await db.UsageDaily.AnyAsync(stoppingToken))
                {
                    await close.CloseAsync(previous, stoppingToken);
                    await scope.ServiceProvider.GetRequiredService<PayoutRun>().RunAsync(previous, stoppingToken);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Scheduled month close failed; retrying later");
            }

            await Task.Delay(TimeSpan.FromMinutes(5), clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}
