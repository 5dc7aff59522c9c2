namespace UltraRepo.Metering.Storage;

/// <summary>Durable usage storage: writes a batch idempotently (by event id) and keeps the rollups in step.</summary>
public interface IUsageStore
{
    /// <returns>How many events were new (the others were already stored).</returns>
    Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct);

    /// <summary>How many batches the shipper may write at once (disjoint events; rollups stay exact either way).</summary>
    int ConcurrentWrites => 1;
}

/// <summary>Bucketing and summing rules shared by both stores and by tests that recompute rollups.</summary>
public static class UsageBuckets
{
    public static DateTime Hour(DateTime instant) => new(instant.Year, instant.Month, instant.Day, instant.Hour, 0, 0, DateTimeKind.Utc);

    public static DateTime Day(DateTime instant) => new(instant.Year, instant.Month, instant.Day, 0, 0, 0, DateTimeKind.Utc);

    public static Totals Sum(IEnumerable<UsageEvent> events)
    {
        var t = new Totals();
        foreach (var e in events)
        {
            t.InputTokens += e.InputTokens;
            t.OutputTokens += e.OutputTokens;
            t.TotalTokens += e.TotalTokens;
            t.BillableTokens += e.IsBillable ? e.TotalTokens : 0;
            t.Cost += e.Cost;
            t.Requests++;
            t.Errors += e.Outcome == UsageOutcome.Ok ? 0 : 1;
        }

        return t;
    }

    public sealed class Totals
    {
        public long InputTokens { get; set; }
        public long OutputTokens { get; set; }
        public long TotalTokens { get; set; }
        public long BillableTokens { get; set; }
        public decimal Cost { get; set; }
        public long Requests { get; set; }
        public long Errors { get; set; }
    }
}
