using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Data;

namespace UltraRepo.Billing;

public sealed record PayoutSummary(string Period, int Created, int AlreadyDone, IReadOnlyList<Payout> Payouts);

/// <summary>
/// Pays publishers their ledger balance once it reaches the minimum: one payout per publisher, period and
/// currency (running the same period again changes nothing), booked as a ledger transfer from the
/// publisher's account and, with Stripe, sent as a Connect transfer to the publisher's connected account.
/// </summary>
public sealed class PayoutRun(MarketplaceDb db, IPaymentProvider payments, IOptions<BillingOptions> options, TimeProvider clock, ILogger<PayoutRun> logger)
{
    public async Task<PayoutSummary> RunAsync(string period, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var balances = await db.LedgerEntries.AsNoTracking()
            .Where(e => e.Account.StartsWith("publisher:"))
            .GroupBy(e => new { e.Account, e.Currency })
            .Select(g => new { g.Key.Account, g.Key.Currency, Balance = g.Sum(e => e.Amount) })
            .ToListAsync(ct);
        var existing = await db.Payouts.AsNoTracking().Where(p => p.Period == period).ToListAsync(ct);
        var created = new List<Payout>();
        foreach (var b in balances.Where(b => b.Balance >= options.Value.PayoutMinimum))
        {
            var publisherId = Guid.Parse(b.Account["publisher:".Length..]);
            if (existing.Any(p => p.PublisherId == publisherId && p.Currency == b.Currency))
            {
                continue;
            }

            var payout = new Payout { PublisherId = publisherId, Period = period, Currency = b.Currency, Amount = b.Balance, CreatedAt = now, Provider = payments.Name };
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            db.Payouts.Add(payout);
            var transaction = Guid.CreateVersion7();
            db.LedgerEntries.Add(new LedgerEntry { TransactionId = transaction, Account = b.Account, Amount = -b.Balance, Currency = b.Currency, Kind = LedgerKinds.Payout, Reference = payout.Id, Period = period, CreatedAt = now });
            db.LedgerEntries.Add(new LedgerEntry { TransactionId = transaction, Account = LedgerAccounts.PayoutsSent, Amount = b.Balance, Currency = b.Currency, Kind = LedgerKinds.Payout, Reference = payout.Id, Period = period, CreatedAt = now });
            try
            {
                await db.SaveChangesAsync(ct);
                await tx.CommitAsync(ct);
            }
            catch (DbUpdateException)
            {
                // A concurrent run created it.
                db.ChangeTracker.Clear();
                continue;
            }

            created.Add(payout);
        }

        foreach (var payout in created)
        {
            await SendAsync(payout, ct);
        }

        return new PayoutSummary(period, created.Count, existing.Count, await db.Payouts.AsNoTracking().Where(p => p.Period == period).ToListAsync(ct));
    }

    private async Task SendAsync(Payout payout, CancellationToken ct)
    {
        var destination = await db.PayoutAccounts.AsNoTracking().Where(a => a.PublisherId == payout.PublisherId).Select(a => a.StripeAccountId).FirstOrDefaultAsync(ct);
        try
        {
            var transfer = await payments.TransferAsync(payout, destination, ct);
            var now = clock.GetUtcNow().UtcDateTime;
            await db.Payouts.Where(p => p.Id == payout.Id).ExecuteUpdateAsync(s => s
                .SetProperty(p => p.Status, transfer.Sent ? PayoutStatus.Paid : PayoutStatus.Pending)
                .SetProperty(p => p.TransferId, transfer.Reference)
                .SetProperty(p => p.Destination, destination)
                .SetProperty(p => p.PaidAt, transfer.Sent ? now : null), ct);
            payout.Status = transfer.Sent ? PayoutStatus.Paid : PayoutStatus.Pending;
            payout.TransferId = transfer.Reference;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Transfer for payout {Payout} failed; it stays pending", payout.Id);
            await db.Payouts.Where(p => p.Id == payout.Id).ExecuteUpdateAsync(s => s.SetProperty(p => p.Status, PayoutStatus.Failed), ct);
        }
    }
}
