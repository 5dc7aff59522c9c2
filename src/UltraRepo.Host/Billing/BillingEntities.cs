using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Billing;

public static class InvoiceStatus
{
    /// <summary>Finalized, waiting for payment.</summary>
    public const string Open = "open";
    public const string Paid = "paid";
}

/// <summary>A consumer's finalized invoice for one calendar month in one currency. Drafts are computed, never stored.</summary>
public sealed class Invoice
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public required string Number { get; init; }
    public Guid ConsumerId { get; init; }
    public required string Period { get; init; }
    public required string Currency { get; init; }
    public string Status { get; set; } = InvoiceStatus.Open;
    public decimal Total { get; init; }
    public decimal Prepaid { get; init; }
    public decimal AmountDue { get; init; }
    public DateTime FinalizedAt { get; init; }
    public DateTime? PaidAt { get; set; }
    public string? PaymentProvider { get; set; }
    public string? PaymentReference { get; set; }
    /// <summary>Where the consumer pays online (the provider's hosted invoice page), when there is one.</summary>
    public string? PaymentUrl { get; set; }
    public DateTime? EmailedAt { get; set; }
    public List<InvoiceLine> Lines { get; init; } = [];
}

public sealed class InvoiceLine
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public Guid InvoiceId { get; init; }
    public int Position { get; init; }
    public required string Kind { get; init; }
    public required string ServerName { get; init; }
    public required string Description { get; init; }
    public Guid? PublisherId { get; init; }
    public long Tokens { get; init; }
    /// <summary>Tiers applied, as JSON <c>[{fromToken, toToken, tokens, pricePer1k, amount}]</c>.</summary>
    public required string Tiers { get; init; }
    public decimal ExactAmount { get; init; }
    public decimal Amount { get; init; }
    public decimal RoundingAdjustment { get; init; }
    public bool Prepaid { get; init; }
    public string? SourcePeriod { get; init; }
    public Guid? LicenseId { get; init; }
}

/// <summary>What an invoice billed for a consumer, listing and period, so usage recorded later is billed once, later.</summary>
public sealed class BilledUsage
{
    public Guid ConsumerId { get; init; }
    public required string ServerName { get; init; }
    public required string Period { get; init; }
    public required string Currency { get; init; }
    public long Tokens { get; set; }
    public decimal ExactCost { get; set; }
}

/// <summary>A closed billing period: its invoices are final.</summary>
public sealed class BillingPeriod
{
    public required string Period { get; init; }
    public DateTime ClosedAt { get; init; }
    public int Invoices { get; init; }
}

/// <summary>Named counters (invoice numbers) advanced inside the transaction that uses them.</summary>
public sealed class BillingCounter
{
    public required string Name { get; init; }
    public long Value { get; set; }
}

internal sealed class BillingConfiguration :
    IEntityTypeConfiguration<Invoice>, IEntityTypeConfiguration<InvoiceLine>, IEntityTypeConfiguration<BilledUsage>,
    IEntityTypeConfiguration<BillingPeriod>, IEntityTypeConfiguration<BillingCounter>
{
    public void Configure(EntityTypeBuilder<Invoice> b)
    {
        b.Property(i => i.Number).HasMaxLength(32);
        b.Property(i => i.Period).HasMaxLength(7);
        b.Property(i => i.Currency).HasMaxLength(3);
        b.Property(i => i.Status).HasMaxLength(16);
        b.Property(i => i.PaymentProvider).HasMaxLength(16);
        b.Property(i => i.PaymentReference).HasMaxLength(200);
        b.Property(i => i.PaymentUrl).HasMaxLength(1000);
        b.HasIndex(i => i.Number).IsUnique();
        b.HasIndex(i => new { i.ConsumerId, i.Period, i.Currency }).IsUnique();
        b.HasIndex(i => i.Period);
        b.HasMany(i => i.Lines).WithOne().HasForeignKey(l => l.InvoiceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<InvoiceLine> b)
    {
        b.Property(l => l.Kind).HasMaxLength(24);
        b.Property(l => l.ServerName).HasMaxLength(200);
        b.Property(l => l.Description).HasMaxLength(400);
        b.Property(l => l.SourcePeriod).HasMaxLength(7);
        b.HasIndex(l => new { l.InvoiceId, l.Position });
        b.HasIndex(l => l.PublisherId);
    }

    public void Configure(EntityTypeBuilder<BilledUsage> b)
    {
        b.HasKey(u => new { u.ConsumerId, u.ServerName, u.Period, u.Currency });
        b.Property(u => u.ServerName).HasMaxLength(200);
        b.Property(u => u.Period).HasMaxLength(7);
        b.Property(u => u.Currency).HasMaxLength(3);
    }

    public void Configure(EntityTypeBuilder<BillingPeriod> b)
    {
        b.HasKey(p => p.Period);
        b.Property(p => p.Period).HasMaxLength(7);
    }

    public void Configure(EntityTypeBuilder<BillingCounter> b)
    {
        b.HasKey(c => c.Name);
        b.Property(c => c.Name).HasMaxLength(32);
    }
}
