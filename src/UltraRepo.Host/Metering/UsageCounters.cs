namespace UltraRepo.Metering;

/// <summary>A consumer's cap as the counters enforce it (from a budget).</summary>
public sealed record BudgetLimit(Guid BudgetId, string? ServerName, long? TokenLimit, decimal? AmountLimit, string? Currency, bool AlertOnly, IReadOnlyList<int> Thresholds);

/// <summary>What a request wants to hold before it is forwarded.</summary>
public sealed record ReservationRequest(
    Guid ConsumerId,
    string ServerName,
    string Period,
    string Currency,
    long InputTokens,
    long OutputEstimate,
    decimal MaxPricePerToken,
    long? ListingTokenLimit,
    IReadOnlyList<BudgetLimit> Budgets);

public sealed record Reservation(Guid ConsumerId, string ServerName, string Period, string Currency, long Tokens, decimal Cost)
{
    public static Reservation None(Guid consumerId, string serverName, string period, string currency) => new(consumerId, serverName, period, currency, 0, 0);
}

public abstract record Admission
{
    public sealed record Admitted(Reservation Reservation) : Admission;

    /// <summary><paramref name="Reason"/> is "listing_limit" or "budget".</summary>
    public sealed record Refused(string Reason, string Message) : Admission;
}

/// <summary>A budget alert threshold (percent) crossed by a settlement.</summary>
public sealed record BudgetCrossing(BudgetLimit Budget, int Threshold, decimal Used, decimal Limit);

/// <summary>
/// Where the usage landed: the consumer's month-to-date tokens on the listing before and after it
/// (so its marginal cost is exact and the month's event costs add up to the rated month).
/// </summary>
public sealed record Settlement(long MonthToDateBefore, long MonthToDateAfter, decimal Cost, IReadOnlyList<BudgetCrossing> Crossings);

/// <summary>
/// Month-to-date usage per consumer, with reservations, shared by every request of a consumer:
/// in-process for the embedded host, in Redis (atomic scripts) for many gateway nodes.
/// Admission reserves the request's input tokens plus an output estimate (trimmed to what is left)
/// and refuses once a hard limit is reached; settlement replaces the reservation with the actual count.
/// So usage can exceed a limit by at most the in-flight requests' actual usage beyond their reservations.
/// </summary>
public interface IUsageCounters
{
    ValueTask<Admission> ReserveAsync(ReservationRequest request, CancellationToken ct);

    /// <param name="marginalCost">Cost of <c>tokens</c> more tokens on top of <c>monthToDate</c> under the period's price.</param>
    /// <remarks>
    /// Negative <paramref name="actualTokens"/> with the negated cost takes back a settlement whose usage was
    /// never recorded. If <paramref name="marginalCost"/> throws, the counters are left as they were.
    /// </remarks>
    ValueTask<Settlement> SettleAsync(Reservation reservation, long actualTokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct);

    /// <summary>
    /// Settles many unreserved usages of one consumer and listing in order (ingested batches): each gets
    /// its own month-to-date position and marginal cost, as if settled one by one. All or nothing: if a
    /// cost cannot be worked out, none of them is settled.
    /// </summary>
    ValueTask<IReadOnlyList<Settlement>> SettleManyAsync(Reservation none, IReadOnlyList<long> tokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct);
}

/// <summary>Usage already recorded for a consumer in a period, used to start counters after a restart.</summary>
public interface IRecordedUsage
{
    Task<IReadOnlyList<RecordedUsage>> ForConsumerAsync(Guid consumerId, string period, CancellationToken ct);
}

public sealed record RecordedUsage(string ServerName, string Currency, long Tokens, decimal Cost);

/// <summary>The admission and alert arithmetic both counter stores share.</summary>
public static class UsageLimits
{
    public sealed record ServerTotals(string ServerName, string Currency, long Used, long Reserved, decimal Cost, decimal ReservedCost);

    /// <summary>Returns the tokens and cost to reserve, or why not.</summary>
    public static (long Tokens, decimal Cost, Admission.Refused? Refusal) Admit(ReservationRequest request, IReadOnlyCollection<ServerTotals> totals)
    {
        var mine = totals.FirstOrDefault(t => t.ServerName == request.ServerName);
        var tokens = request.InputTokens + request.OutputEstimate;
        if (request.ListingTokenLimit is { } limit)
        {
            var left = limit - (mine?.Used ?? 0) - (mine?.Reserved ?? 0);
            if (left <= 0 || left < request.InputTokens)
            {
                return (0, 0, new Admission.Refused("listing_limit", $"the monthly limit of {limit} tokens on {request.ServerName} is reached"));
            }

            tokens = Math.Min(tokens, left);
        }

        foreach (var budget in request.Budgets.Where(b => !b.AlertOnly && Applies(b, request.ServerName, request.Currency)))
        {
            var scope = totals.Where(t => budget.ServerName is null || t.ServerName == budget.ServerName).ToList();
            if (budget.TokenLimit is { } tokenLimit)
            {
                var left = tokenLimit - scope.Sum(t => t.Used + t.Reserved);
                if (left <= 0 || left < request.InputTokens)
                {
                    return (0, 0, new Admission.Refused("budget", $"your {Describe(budget)} budget of {tokenLimit} tokens this month is used up"));
                }

                tokens = Math.Min(tokens, left);
            }

            if (budget.AmountLimit is { } amountLimit)
            {
                var left = amountLimit - scope.Where(t => t.Currency == budget.Currency).Sum(t => t.Cost + t.ReservedCost);
                if (left <= 0)
                {
                    return (0, 0, new Admission.Refused("budget", $"your {Describe(budget)} budget of {amountLimit} {budget.Currency} this month is used up"));
                }
            }
        }

        return (tokens, tokens * request.MaxPricePerToken, null);
    }

    /// <summary>Thresholds each budget crossed between the usage before and after a settlement.</summary>
    public static List<BudgetCrossing> Crossings(IReadOnlyList<BudgetLimit> budgets, IReadOnlyCollection<ServerTotals> before, IReadOnlyCollection<ServerTotals> after, string serverName, string currency) =>
        CrossingsBetween(budgets.Where(b => Applies(b, serverName, currency)), before, after);

    /// <summary>
    /// Thresholds budgets have already reached at these totals: a budget set (or changed) in the middle of a month is
    /// told at once what it would have been told on the way there.
    /// </summary>
    public static List<BudgetCrossing> Reached(IEnumerable<BudgetLimit> budgets, IReadOnlyCollection<ServerTotals> totals) =>
        CrossingsBetween(budgets, [], totals);

    private static List<BudgetCrossing> CrossingsBetween(IEnumerable<BudgetLimit> budgets, IReadOnlyCollection<ServerTotals> before, IReadOnlyCollection<ServerTotals> after)
    {
        var crossings = new List<BudgetCrossing>();
        foreach (var budget in budgets)
        {
            decimal Used(IReadOnlyCollection<ServerTotals> totals)
            {
                var scope = totals.Where(t => budget.ServerName is null || t.ServerName == budget.ServerName);
                return budget.TokenLimit is not null ? scope.Sum(t => t.Used) : scope.Where(t => t.Currency == budget.Currency).Sum(t => t.Cost);
            }

            var limit = budget.TokenLimit ?? budget.AmountLimit ?? 0;
            if (limit <= 0)
            {
                continue;
            }

            var was = Used(before) * 100 / limit;
            var now = Used(after) * 100 / limit;
            foreach (var threshold in budget.Thresholds.Where(t => was < t && now >= t))
            {
                crossings.Add(new BudgetCrossing(budget, threshold, Used(after), limit));
            }
        }

        return crossings;
    }

    private static bool Applies(BudgetLimit budget, string serverName, string currency) =>
        (budget.ServerName is null || budget.ServerName == serverName)
        && (budget.AmountLimit is null || budget.Currency == currency || budget.TokenLimit is not null);

    private static string Describe(BudgetLimit budget) => budget.ServerName is null ? "monthly" : $"{budget.ServerName} monthly";
}
