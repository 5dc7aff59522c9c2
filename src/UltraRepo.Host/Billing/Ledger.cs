using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using UltraRepo.Domain.Billing;

namespace UltraRepo.Billing;

/// <summary>
/// One side of a double-entry transaction. Every transaction's entries sum to zero: a consumer's charge
/// (negative, on the consumer's account) equals the platform fee plus the publisher's earning (positive).
/// Refunds book the opposite entries; payouts move earnings from the publisher's account to payouts.
/// </summary>
public sealed class LedgerEntry
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid TransactionId { get; init; }
    public required string Account { get; init; }
    public decimal Amount { get; init; }
    public required string Currency { get; init; }
    public required string Kind { get; init; }
    /// <summary>What was booked: an invoice line, a license or a payout.</summary>
    public Guid Reference { get; init; }
    public required string Period { get; init; }
    public DateTime CreatedAt { get; init; }
}

public static class LedgerAccounts
{
    public const string PlatformFees = "platform:fees";
    public const string PayoutsSent = "platform:payouts";

    public static string Consumer(Guid id) => $"consumer:{id}";

    public static string Publisher(Guid id) => $"publisher:{id}";

    /// <summary>Listings without a publisher (imported) earn for the platform.</summary>
    public static string Earner(Guid? publisherId) => publisherId is { } id ? Publisher(id) : PlatformFees;
}

public static class LedgerKinds
{
    public const string InvoiceLine = "invoice_line";
    public const string LicenseSale = "license_sale";
    public const string Refund = "refund";
    public const string Payout = "payout";
}

public sealed class BillingOptions
{
    /// <summary>The platform's share of every charge (the publisher earns the rest).</summary>
    public decimal PlatformFeeRate { get; set; } = 0.30m;

    /// <summary>Late events inside a month still count if they arrive within this time after it ends.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Publishers are paid once their balance reaches this (per currency).</summary>
    public decimal PayoutMinimum { get; set; } = 10m;

    /// <summary>Close months automatically once their grace period has passed.</summary>
    public bool ScheduledClose { get; set; } = true;

    /// <summary>How many invoices a month close charges and e-mails at once (each consumer's invoices in turn).</summary>
    public int DeliveryConcurrency { get; set; } = 4;
}

/// <summary>Books entries so that each transaction sums to zero (the one place that writes the ledger).</summary>
public static class LedgerBooking
{
    public static IEnumerable<LedgerEntry> Charge(Guid consumerId, Guid? publisherId, decimal amount, string currency, decimal feeRate, string kind, Guid reference, string period, DateTime at, bool reverse = false)
    {
        var (fee, earning) = RevenueShare.Split(amount, publisherId is null ? 1m : feeRate, currency);
        var sign = reverse ? -1 : 1;
        var transaction = Guid.CreateVersion7();
        yield return Entry(LedgerAccounts.Consumer(consumerId), -amount * sign);
        yield return Entry(LedgerAccounts.PlatformFees, fee * sign);
        if (earning != 0)
        {
            yield return Entry(LedgerAccounts.Earner(publisherId), earning * sign);
        }

        LedgerEntry Entry(string account, decimal value) => new()
        {
            TransactionId = transaction,
            Account = account,
            Amount = value,
            Currency = currency,
            Kind = reverse ? LedgerKinds.Refund : kind,
            Reference = reference,
            Period = period,
            CreatedAt = at,
        };
    }
}

/// <summary>A transfer of a publisher's earnings (one per publisher, period and currency).</summary>
public sealed class Payout
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid PublisherId { get; init; }
    public required string Period { get; init; }
    public required string Currency { get; init; }
    public decimal Amount { get; init; }
    public string Status { get; set; } = PayoutStatus.Pending;
    public string? Provider { get; set; }
    public string? TransferId { get; set; }
    public string? Destination { get; set; }
    public DateTime CreatedAt { get; init; }
    public DateTime? PaidAt { get; set; }
}

public static class PayoutStatus
{
    public const string Pending = "pending";
    public const string Paid = "paid";
    public const string Failed = "failed";
}

/// <summary>Where a publisher is paid (a Stripe Connect account id).</summary>
public sealed class PayoutAccount
{
    public Guid PublisherId { get; init; }
    public required string StripeAccountId { get; set; }
}

/// <summary>A payment provider's webhook event already processed (each is processed exactly once).</summary>
public sealed class ProcessedWebhook
{
    public required string EventId { get; init; }
    public required string Type { get; init; }
    public DateTime ProcessedAt { get; init; }
}

internal sealed class LedgerConfiguration :
    IEntityTypeConfiguration<LedgerEntry>, IEntityTypeConfiguration<Payout>, IEntityTypeConfiguration<PayoutAccount>, IEntityTypeConfiguration<ProcessedWebhook>
{
    public void Configure(EntityTypeBuilder<LedgerEntry> b)
    {
        b.Property(e => e.Account).HasMaxLength(64);
        b.Property(e => e.Currency).HasMaxLength(3);
        b.Property(e => e.Kind).HasMaxLength(24);
        b.Property(e => e.Period).HasMaxLength(7);
        b.HasIndex(e => new { e.Account, e.Currency });
        b.HasIndex(e => e.Reference);
        b.HasIndex(e => e.TransactionId);
        b.HasIndex(e => e.Period);
    }

    public void Configure(EntityTypeBuilder<Payout> b)
    {
        b.Property(p => p.Period).HasMaxLength(7);
        b.Property(p => p.Currency).HasMaxLength(3);
        b.Property(p => p.Status).HasMaxLength(16);
        b.Property(p => p.Provider).HasMaxLength(16);
        b.Property(p => p.TransferId).HasMaxLength(100);
        b.Property(p => p.Destination).HasMaxLength(100);
        b.HasIndex(p => new { p.PublisherId, p.Period, p.Currency }).IsUnique();
    }

    public void Configure(EntityTypeBuilder<PayoutAccount> b)
    {
        b.HasKey(a => a.PublisherId);
        b.Property(a => a.StripeAccountId).HasMaxLength(100);
    }

    public void Configure(EntityTypeBuilder<ProcessedWebhook> b)
    {
        b.HasKey(w => w.EventId);
        b.Property(w => w.EventId).HasMaxLength(100);
        b.Property(w => w.Type).HasMaxLength(64);
    }
}
