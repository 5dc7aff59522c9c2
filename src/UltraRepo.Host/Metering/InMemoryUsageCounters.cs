namespace UltraRepo.Metering;

/// <summary>
/// Counters for the single-process embedded host: one lock per consumer and period, started from
/// the usage already recorded in the database on first touch.
/// </summary>
public sealed class InMemoryUsageCounters(IRecordedUsage recorded) : IUsageCounters
{
    private readonly Dictionary<(Guid, string), Ledger> _ledgers = [];
    private readonly Lock _ledgersLock = new();

    public async ValueTask<Admission> ReserveAsync(ReservationRequest request, CancellationToken ct)
    {
        var ledger = await LedgerAsync(request.ConsumerId, request.Period, ct);
        lock (ledger.Sync)
        {
            var (tokens, cost, refusal) = UsageLimits.Admit(request, ledger.Totals());
            if (refusal is not null)
            {
                return refusal;
            }

            var entry = ledger.Entry(request.ServerName, request.Currency);
            entry.Reserved += tokens;
            entry.ReservedCost += cost;
            return new Admission.Admitted(new Reservation(request.ConsumerId, request.ServerName, request.Period, request.Currency, tokens, cost));
        }
    }

    public async ValueTask<Settlement> SettleAsync(Reservation reservation, long actualTokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct)
    {
        var ledger = await LedgerAsync(reservation.ConsumerId, reservation.Period, ct);
        lock (ledger.Sync)
        {
            var before = ledger.Totals();
            var entry = ledger.Entry(reservation.ServerName, reservation.Currency);
            var mtdBefore = entry.Used;
            var cost = marginalCost(mtdBefore, actualTokens);
            entry.Used += actualTokens;
            entry.Cost += cost;
            entry.Reserved -= reservation.Tokens;
            entry.ReservedCost -= reservation.Cost;
            var after = ledger.Totals();
            return new Settlement(mtdBefore, entry.Used, cost, UsageLimits.Crossings(budgets, before, after, reservation.ServerName, reservation.Currency));
        }
    }

    /// <summary>All or nothing: every cost is worked out before the ledger changes, so a failure leaves it as it was.</summary>
    public async ValueTask<IReadOnlyList<Settlement>> SettleManyAsync(Reservation none, IReadOnlyList<long> tokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct)
    {
        var ledger = await LedgerAsync(none.ConsumerId, none.Period, ct);
        lock (ledger.Sync)
        {
            var entry = ledger.Entry(none.ServerName, none.Currency);
            var costs = new decimal[tokens.Count];
            var position = entry.Used;
            for (var i = 0; i < tokens.Count; i++)
            {
                costs[i] = marginalCost(position, tokens[i]);
                position = checked(position + tokens[i]);
            }

            var settlements = new List<Settlement>(tokens.Count);
            for (var i = 0; i < tokens.Count; i++)
            {
                var before = ledger.Totals();
                var mtdBefore = entry.Used;
                entry.Used += tokens[i];
                entry.Cost += costs[i];
                settlements.Add(new Settlement(mtdBefore, entry.Used, costs[i], UsageLimits.Crossings(budgets, before, ledger.Totals(), none.ServerName, none.Currency)));
            }

            return settlements;
        }
    }

    private async ValueTask<Ledger> LedgerAsync(Guid consumerId, string period, CancellationToken ct)
    {
        Ledger ledger;
        lock (_ledgersLock)
        {
            if (!_ledgers.TryGetValue((consumerId, period), out ledger!))
            {
                ledger = new Ledger();
                _ledgers[(consumerId, period)] = ledger;
            }
        }

        if (!ledger.Loaded)
        {
            await ledger.LoadGate.WaitAsync(ct);
            try
            {
                if (!ledger.Loaded)
                {
                    var rows = await recorded.ForConsumerAsync(consumerId, period, ct);
                    lock (ledger.Sync)
                    {
                        foreach (var row in rows)
                        {
                            var entry = ledger.Entry(row.ServerName, row.Currency);
                            entry.Used += row.Tokens;
                            entry.Cost += row.Cost;
                        }

                        ledger.Loaded = true;
                    }
                }
            }
            finally
            {
                ledger.LoadGate.Release();
            }
        }

        return ledger;
    }

    private sealed class Ledger
    {
        public readonly Lock Sync = new();
        public readonly SemaphoreSlim LoadGate = new(1, 1);
        public volatile bool Loaded;
        private readonly Dictionary<string, Entry> _entries = [];

        public Entry Entry(string serverName, string currency)
        {
            if (!_entries.TryGetValue(serverName, out var entry))
            {
                entry = new Entry(serverName, currency);
                _entries[serverName] = entry;
            }

            return entry;
        }

        public List<UsageLimits.ServerTotals> Totals() =>
            _entries.Values.Select(e => new UsageLimits.ServerTotals(e.ServerName, e.Currency, e.Used, e.Reserved, e.Cost, e.ReservedCost)).ToList();
    }

    private sealed class Entry(string serverName, string currency)
    {
        public string ServerName { get; } = serverName;
        public string Currency { get; } = currency;
        public long Used { get; set; }
        public long Reserved { get; set; }
        public decimal Cost { get; set; }
        public decimal ReservedCost { get; set; }
    }
}
