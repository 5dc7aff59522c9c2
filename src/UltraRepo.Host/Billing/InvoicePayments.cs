using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;

namespace UltraRepo.Billing;

/// <summary>
/// Marks an invoice paid and books each charged line in the ledger (consumer charge = platform fee +
/// publisher earning). Only the first call for an invoice books anything, so a webhook delivered twice,
/// or an admin clicking twice, changes nothing.
/// </summary>
public sealed class InvoicePayments(MarketplaceDb db, IOptions<BillingOptions> options, TimeProvider clock)
{
    /// <returns>False when the invoice does not exist or was already paid.</returns>
    public async Task<bool> MarkPaidAsync(Guid invoiceId, string provider, string? reference, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var changed = await db.Invoices.Where(i => i.Id == invoiceId && i.Status == InvoiceStatus.Open)
            .ExecuteUpdateAsync(s => s
                .SetProperty(i => i.Status, InvoiceStatus.Paid)
                .SetProperty(i => i.PaidAt, now)
                .SetProperty(i => i.PaymentProvider, provider)
                .SetProperty(i => i.PaymentReference, reference), ct);
        if (changed == 0)
        {
            return false;
        }

        var invoice = await db.Invoices.AsNoTracking().Include(i => i.Lines).FirstAsync(i => i.Id == invoiceId, ct);
        foreach (var line in invoice.Lines.Where(l => !l.Prepaid && l.Amount != 0))
        {
            db.LedgerEntries.AddRange(LedgerBooking.Charge(invoice.ConsumerId, line.PublisherId, line.Amount, invoice.Currency,
                options.Value.PlatformFeeRate, LedgerKinds.InvoiceLine, line.Id, invoice.Period, now));
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return true;
    }
}

/// <summary>Sends a finalized invoice to the consumer.</summary>
public interface IInvoiceMailer
{
    Task SendAsync(Invoice invoice, string email, CancellationToken ct);
}
