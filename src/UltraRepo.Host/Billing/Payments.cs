using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Billing;

public sealed record CheckoutResult(bool Completed, string? Reference, string? RedirectUrl, string? PaymentReference = null);

public sealed record ChargeResult(bool Paid, string? Reference, string? PaymentUrl);

public sealed record RefundResult(bool Refunded, string? Reference);

public sealed record TransferResult(bool Sent, string? Reference);

/// <summary>
/// The payment provider seam. <c>manual</c> (the embedded default) issues invoices that an admin marks
/// paid and completes license checkouts at once in a clearly labelled sandbox mode; <c>stripe</c> uses
/// Checkout for licenses, Stripe invoices for monthly charges, refunds and Connect transfers, and reports
/// outcomes through signed webhooks.
/// </summary>
public interface IPaymentProvider
{
    string Name { get; }

    /// <summary>True when no money moves (the manual provider's sandbox checkout).</summary>
    bool IsSandbox { get; }

    Task<CheckoutResult> StartLicenseCheckoutAsync(License license, string title, string consumerEmail, CancellationToken ct);

    Task<ChargeResult> ChargeInvoiceAsync(Invoice invoice, string consumerEmail, CancellationToken ct);

    Task<RefundResult> RefundLicenseAsync(License license, CancellationToken ct);

    Task<TransferResult> TransferAsync(Payout payout, string? destinationAccount, CancellationToken ct);
}

/// <summary>No payment processor: admins mark invoices paid, checkouts complete in sandbox mode, payouts are settled by hand.</summary>
public sealed class ManualPayments : IPaymentProvider
{
    public string Name => "manual";

    public bool IsSandbox => true;

    public Task<CheckoutResult> StartLicenseCheckoutAsync(License license, string title, string consumerEmail, CancellationToken ct) =>
        Task.FromResult(new CheckoutResult(Completed: true, Reference: "sandbox-" + license.Id.ToString("N"), RedirectUrl: null));

    public Task<ChargeResult> ChargeInvoiceAsync(Invoice invoice, string consumerEmail, CancellationToken ct) =>
        Task.FromResult(new ChargeResult(Paid: false, Reference: null, PaymentUrl: null));

    public Task<RefundResult> RefundLicenseAsync(License license, CancellationToken ct) =>
        Task.FromResult(new RefundResult(Refunded: true, Reference: "sandbox-refund-" + license.Id.ToString("N")));

    public Task<TransferResult> TransferAsync(Payout payout, string? destinationAccount, CancellationToken ct) =>
        Task.FromResult(new TransferResult(Sent: false, Reference: null));
}

/// <summary>A consumer's customer record at the payment provider.</summary>
public sealed class PaymentCustomer
{
    public Guid ConsumerId { get; init; }
    public required string Provider { get; init; }
    public required string CustomerId { get; init; }
}

internal sealed class PaymentCustomerConfiguration : IEntityTypeConfiguration<PaymentCustomer>
{
    public void Configure(EntityTypeBuilder<PaymentCustomer> b)
    {
        b.HasKey(c => new { c.ConsumerId, c.Provider });
        b.Property(c => c.Provider).HasMaxLength(16);
        b.Property(c => c.CustomerId).HasMaxLength(100);
    }
}
