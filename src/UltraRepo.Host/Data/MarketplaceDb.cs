using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using UltraRepo.Accounts;
using UltraRepo.Pricing;
using UltraRepo.Registry;

namespace UltraRepo.Data;

/// <summary>
/// The marketplace's relational store. Provider-specific subclasses carry their own migrations
/// (one migration set per provider, as EF Core recommends for multi-provider apps).
/// </summary>
public abstract class MarketplaceDb(DbContextOptions options) : DbContext(options), IDataProtectionKeyContext
{
    public DbSet<User> Users => Set<User>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<NamespaceGrant> NamespaceGrants => Set<NamespaceGrant>();
    public DbSet<RegistryEntry> RegistryEntries => Set<RegistryEntry>();
    public DbSet<Listing> Listings => Set<Listing>();
    public DbSet<PricingVersion> PricingVersions => Set<PricingVersion>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<Subscriptions.Subscription> Subscriptions => Set<Subscriptions.Subscription>();
    public DbSet<Subscriptions.SubscriptionPeriod> SubscriptionPeriods => Set<Subscriptions.SubscriptionPeriod>();
    public DbSet<Metering.UsageEvent> UsageEvents => Set<Metering.UsageEvent>();
    public DbSet<Budgets.Budget> Budgets => Set<Budgets.Budget>();
    public DbSet<Budgets.Notification> Notifications => Set<Budgets.Notification>();
    public DbSet<Metering.UsageHourly> UsageHourly => Set<Metering.UsageHourly>();
    public DbSet<Metering.UsageDaily> UsageDaily => Set<Metering.UsageDaily>();
    public DbSet<Metering.UsageListingDaily> UsageListingDaily => Set<Metering.UsageListingDaily>();
    public DbSet<Metering.UsageConsumerDays> UsageConsumerDays => Set<Metering.UsageConsumerDays>();
    public DbSet<Metering.IngestKey> IngestKeys => Set<Metering.IngestKey>();
    public DbSet<Billing.Invoice> Invoices => Set<Billing.Invoice>();
    public DbSet<Billing.InvoiceLine> InvoiceLines => Set<Billing.InvoiceLine>();
    public DbSet<Billing.BilledUsage> BilledUsage => Set<Billing.BilledUsage>();
    public DbSet<Billing.BillingPeriod> BillingPeriods => Set<Billing.BillingPeriod>();
    public DbSet<Billing.BillingCounter> BillingCounters => Set<Billing.BillingCounter>();
    public DbSet<Billing.LedgerEntry> LedgerEntries => Set<Billing.LedgerEntry>();
    public DbSet<Billing.Payout> Payouts => Set<Billing.Payout>();
    public DbSet<Billing.PayoutAccount> PayoutAccounts => Set<Billing.PayoutAccount>();
    public DbSet<Billing.ProcessedWebhook> ProcessedWebhooks => Set<Billing.ProcessedWebhook>();
    public DbSet<Billing.License> Licenses => Set<Billing.License>();
    public DbSet<Billing.SigningKey> SigningKeys => Set<Billing.SigningKey>();
    public DbSet<Billing.PaymentCustomer> PaymentCustomers => Set<Billing.PaymentCustomer>();

    public abstract DatabaseProvider Provider { get; }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // All instants are UTC; SQLite hands DateTime back unspecified, so tag it on the way in.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<decimal>().HavePrecision(28, 12);
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(MarketplaceDb).Assembly, t => t.Namespace?.StartsWith("UltraRepo", StringComparison.Ordinal) == true);
    }

    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

public sealed class SqliteMarketplaceDb(DbContextOptions<SqliteMarketplaceDb> options) : MarketplaceDb(options)
{
    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;
}

public sealed class PostgresMarketplaceDb(DbContextOptions<PostgresMarketplaceDb> options) : MarketplaceDb(options)
{
    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        RegistryEntryConfiguration.ConfigurePostgresSearch(modelBuilder);
        // usage_events is partitioned by time; a partitioned table's key must include the partition key.
        modelBuilder.Entity<Metering.UsageEvent>().HasKey(e => new { e.Timestamp, e.Id });
    }
}
