namespace UltraRepo.Metering.Storage;

/// <summary>
/// What one batch of new events adds to each rollup, summed once in .NET (exact decimal costs) for both stores.
/// Each list is in key order: concurrent batches upsert rows in that order, so they may wait for each other but
/// never deadlock.
/// </summary>
public sealed class UsageRollupDeltas
{
    public required IReadOnlyList<Row> Hourly { get; init; }
    public required IReadOnlyList<Row> Daily { get; init; }
    public required IReadOnlyList<ListingRow> ListingDaily { get; init; }
    public required IReadOnlyList<ConsumerDaysRow> ConsumerDays { get; init; }

    /// <summary>A per consumer × listing rollup row's key (hour or day) and what to add to it.</summary>
    public readonly record struct Row(DateTime Bucket, Guid ConsumerId, string ServerName, string Currency, UsageBuckets.Totals Totals);

    public readonly record struct ListingRow(string ServerName, DateTime Day, string Currency, UsageBuckets.Totals Totals);

    /// <summary>The day bits (<see cref="UsageConsumerDays.Bit"/>) to set for a consumer, listing and month.</summary>
    public readonly record struct ConsumerDaysRow(string ServerName, DateTime Month, Guid ConsumerId, int Days);

    public static UsageRollupDeltas Of(IEnumerable<UsageEvent> events)
    {
        // Events go into hourly sums; the coarser rollups are built from those (fewer rows whenever a consumer calls a
        // listing more than once an hour).
        var hourly = new Dictionary<(DateTime, Guid, string, string), UsageBuckets.Totals>();
        foreach (var e in events)
        {
            Totals(hourly, (UsageBuckets.Hour(e.Timestamp), e.ConsumerId, e.ServerName, e.Currency)).Add(e);
        }

        var daily = new Dictionary<(DateTime, Guid, string, string), UsageBuckets.Totals>();
        foreach (var ((hour, consumer, server, currency), totals) in hourly)
        {
            Totals(daily, (UsageBuckets.Day(hour), consumer, server, currency)).Add(totals);
        }

        var dailyRows = Rows(daily);
        var (listingDaily, consumerDays) = PerListing(dailyRows);
        return new UsageRollupDeltas { Hourly = Rows(hourly), Daily = dailyRows, ListingDaily = listingDaily, ConsumerDays = consumerDays };
    }

    /// <summary>
    /// The per-listing daily sums and consumer-days bits that daily rows (per consumer × listing) add up to: the
    /// deltas of a batch, or, on upgrade, both rollups filled from <c>usage_daily</c>.
    /// </summary>
    public static (List<ListingRow> ListingDaily, List<ConsumerDaysRow> ConsumerDays) PerListing(IEnumerable<Row> daily)
    {
        var listingDaily = new Dictionary<(string, DateTime, string), UsageBuckets.Totals>();
        var consumerDays = new Dictionary<(string, DateTime, Guid), int>();
        foreach (var (day, consumer, server, currency, totals) in daily)
        {
            Totals(listingDaily, (server, day, currency)).Add(totals);
            var month = (server, UsageConsumerDays.MonthOf(day), consumer);
            consumerDays[month] = consumerDays.GetValueOrDefault(month) | UsageConsumerDays.Bit(day);
        }

        var listingRows = listingDaily.Select(x => new ListingRow(x.Key.Item1, x.Key.Item2, x.Key.Item3, x.Value)).ToList();
        listingRows.Sort(static (a, b) =>
        {
            var c = string.CompareOrdinal(a.ServerName, b.ServerName);
            c = c != 0 ? c : a.Day.CompareTo(b.Day);
            return c != 0 ? c : string.CompareOrdinal(a.Currency, b.Currency);
        });
        var dayRows = consumerDays.Select(x => new ConsumerDaysRow(x.Key.Item1, x.Key.Item2, x.Key.Item3, x.Value)).ToList();
        dayRows.Sort(static (a, b) =>
        {
            var c = string.CompareOrdinal(a.ServerName, b.ServerName);
            c = c != 0 ? c : a.Month.CompareTo(b.Month);
            return c != 0 ? c : a.ConsumerId.CompareTo(b.ConsumerId);
        });
        return (listingRows, dayRows);
    }

    private static List<Row> Rows(Dictionary<(DateTime, Guid, string, string), UsageBuckets.Totals> sums)
    {
        var rows = sums.Select(x => new Row(x.Key.Item1, x.Key.Item2, x.Key.Item3, x.Key.Item4, x.Value)).ToList();
        rows.Sort(static (a, b) =>
        {
            var c = a.Bucket.CompareTo(b.Bucket);
            c = c != 0 ? c : a.ConsumerId.CompareTo(b.ConsumerId);
            c = c != 0 ? c : string.CompareOrdinal(a.ServerName, b.ServerName);
            return c != 0 ? c : string.CompareOrdinal(a.Currency, b.Currency);
        });
        return rows;
    }

    private static UsageBuckets.Totals Totals<TKey>(Dictionary<TKey, UsageBuckets.Totals> sums, TKey key) where TKey : notnull
    {
        if (!sums.TryGetValue(key, out var totals))
        {
            totals = new UsageBuckets.Totals();
            sums[key] = totals;
        }

        return totals;
    }
}
