using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Domain.Common;

namespace UltraRepo.Billing;

/// <summary>
/// A month's money trail: usage events → invoice lines → ledger, each step reconciled to zero.
/// Rounding is not a difference: every line keeps its exact amount and its rounding adjustment.
/// </summary>
public sealed record ReconciliationReport(
    string Period,
    string Currency,
    string UsageEventsCost,
    string BilledOnPeriodInvoices,
    string BilledLaterAsLateUsage,
    string NotYetBilled,
    string UsageLinesExact,
    string UsageLinesRounded,
    string RoundingAdjustment,
    string MinimumTrueUps,
    string Licenses,
    string InvoicesTotal,
    string PaidCharges,
    string LedgerCharges,
    string LedgerPlatformFees,
    string LedgerPublisherEarnings,
    ReconciliationDifferences Differences);

/// <summary>
/// Each is zero when the books are right: raw events = usage lines (exact) + late lines + what is recorded
/// but not yet billed (rollups minus billed usage); rounded lines = exact lines + rounding adjustments;
/// paid charges = ledger charges; ledger charges = platform fees + publisher earnings.
/// </summary>
public sealed record ReconciliationDifferences(string EventsVsLines, string RoundedVsExact, string PaidVsLedger, string ChargesVsFeesAndEarnings)
{
    public bool AllZero => new[] { EventsVsLines, RoundedVsExact, PaidVsLedger, ChargesVsFeesAndEarnings }.All(d => decimal.Parse(d, System.Globalization.CultureInfo.InvariantCulture) == 0);
}

public sealed class Reconciliation(MarketplaceDb db)
{
    public async Task<IReadOnlyList<ReconciliationReport>> ReportAsync(string period, CancellationToken ct)
    {
        var start = CloseBillingPeriod.Start(period);
        var end = start.AddMonths(1);
        // The raw events themselves (not the rollups), so the rollups are checked too.
        var events = await db.UsageEvents.AsNoTracking().Where(e => e.Period == period)
            .GroupBy(e => e.Currency).Select(g => new { Currency = g.Key, Cost = g.Sum(e => e.Cost) }).ToListAsync(ct);
        var recorded = await db.UsageDaily.AsNoTracking().Where(r => r.BucketStart >= start && r.BucketStart < end)
            .GroupBy(r => r.Currency).Select(g => new { Currency = g.Key, Cost = g.Sum(r => r.Cost) }).ToListAsync(ct);
        var billed = await db.BilledUsage.AsNoTracking().Where(b => b.Period == period)
            .GroupBy(b => b.Currency).Select(g => new { Currency = g.Key, Cost = g.Sum(b => b.ExactCost) }).ToListAsync(ct);
        var lines = await db.InvoiceLines.AsNoTracking()
            .Join(db.Invoices.AsNoTracking(), l => l.InvoiceId, i => i.Id, (l, i) => new { Line = l, i.Period, i.Currency, i.Status })
            .Where(x => x.Period == period || x.Line.SourcePeriod == period)
            .ToListAsync(ct);
        var licenseIds = lines.Where(x => x.Period == period && x.Line.LicenseId != null).Select(x => x.Line.LicenseId!.Value).ToList();
        var lineIds = lines.Where(x => x.Period == period).Select(x => x.Line.Id).ToList();
        var ledger = await db.LedgerEntries.AsNoTracking()
            .Where(e => (e.Kind == LedgerKinds.InvoiceLine || e.Kind == LedgerKinds.LicenseSale || e.Kind == LedgerKinds.Refund)
                && (lineIds.Contains(e.Reference) || licenseIds.Contains(e.Reference)))
            .ToListAsync(ct);

        var currencies = events.Select(e => e.Currency).Concat(lines.Select(l => l.Currency)).Distinct().Order(StringComparer.Ordinal);
        var reports = new List<ReconciliationReport>();
        foreach (var currency in currencies)
        {
            var eventsCost = events.Where(e => e.Currency == currency).Sum(e => e.Cost);
            var mine = lines.Where(l => l.Currency == currency).ToList();
            var usageLines = mine.Where(l => (l.Period == period && l.Line.Kind == "usage") || (l.Line.Kind == "late_usage" && l.Line.SourcePeriod == period)).ToList();
            var onPeriod = usageLines.Where(l => l.Line.Kind == "usage").Sum(l => l.Line.ExactAmount);
            var later = usageLines.Where(l => l.Line.Kind == "late_usage").Sum(l => l.Line.ExactAmount);
            // Recorded for the month but on no invoice yet (usage after its close, billed next month).
            var notYet = recorded.Where(r => r.Currency == currency).Sum(r => r.Cost) - billed.Where(b => b.Currency == currency).Sum(b => b.Cost);
            var ofPeriod = mine.Where(l => l.Period == period).ToList();
            var exact = ofPeriod.Sum(l => l.Line.ExactAmount);
            var rounded = ofPeriod.Sum(l => l.Line.Amount);
            var rounding = ofPeriod.Sum(l => l.Line.RoundingAdjustment);
            var paidCharges = ofPeriod.Where(l => l.Line.Prepaid || l.Status == InvoiceStatus.Paid).Sum(l => l.Line.Amount);
            var entries = ledger.Where(e => e.Currency == currency).ToList();
            var charges = -entries.Where(e => e.Account.StartsWith("consumer:", StringComparison.Ordinal)).Sum(e => e.Amount);
            var fees = entries.Where(e => e.Account == LedgerAccounts.PlatformFees).Sum(e => e.Amount);
            var earnings = entries.Where(e => e.Account.StartsWith("publisher:", StringComparison.Ordinal)).Sum(e => e.Amount);
            reports.Add(new ReconciliationReport(
                period, currency,
                Money.Format(eventsCost), Money.Format(onPeriod), Money.Format(later), Money.Format(notYet),
                Money.Format(usageLines.Where(l => l.Period == period).Sum(l => l.Line.ExactAmount)),
                Money.Format(usageLines.Where(l => l.Period == period).Sum(l => l.Line.Amount)),
                Money.Format(rounding),
                Money.Format(ofPeriod.Where(l => l.Line.Kind == "minimum_true_up").Sum(l => l.Line.Amount)),
                Money.Format(ofPeriod.Where(l => l.Line.Kind == "license").Sum(l => l.Line.Amount)),
                Money.Format(rounded), Money.Format(paidCharges), Money.Format(charges), Money.Format(fees), Money.Format(earnings),
                new ReconciliationDifferences(
                    Money.Format(eventsCost - onPeriod - later - notYet),
                    Money.Format(rounded - exact - rounding),
                    Money.Format(paidCharges - charges),
                    Money.Format(charges - fees - earnings))));
        }

        return reports;
    }
}
