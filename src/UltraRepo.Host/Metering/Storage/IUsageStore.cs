namespace UltraRepo.Metering.Storage;

/// <summary>Durable usage storage: writes a batch idempotently (by event id) and keeps the rollups in step.</summary>
public interface IUsageStore
{
    /// <returns>How many events were new (the others were already stored).</returns>
    Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct);

    /// <summary>How many batches the shipper may write at once (disjoint events; rollups stay exact either way).</summary>
    int ConcurrentWrites => 1;

    /// <summary>
    /// The most events the shipper puts in one batch. Batches are only this large while a backlog waits (below the
    /// store's rate each batch holds what arrived during the previous one); larger batches cost fewer commits and
    /// touch each hot index page once for many events.
    /// </summary>
    int MaxBatch => 5_000;
}

/// <summary>Bucketing and summing rules shared by both stores and by tests that recompute rollups.</summary>
public static class UsageBuckets
{
    public static DateTime Hour(DateTime instant) => new(instant.Ticks - instant.Ticks % TimeSpan.TicksPerHour, DateTimeKind.Utc);

    public static DateTime Day(DateTime instant) => new(instant.Ticks - instant.Ticks % TimeSpan.TicksPerDay, DateTimeKind.Utc);

    public static Totals Sum(IEnumerable<UsageEvent> events)
    {
        var t = new Totals();
        foreach (var e in events)
        {
            t.Add(e);
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

        public void Add(Totals other)
        {
            InputTokens += other.InputTokens;
            OutputTokens += other.OutputTokens;
            TotalTokens += other.TotalTokens;
            BillableTokens += other.BillableTokens;
            Cost += other.Cost;
            Requests += other.Requests;
            Errors += other.Errors;
        }

        /// <summary>Every event is a request; only billable ones add billable tokens; every outcome but ok is an error.</summary>
        public void Add(UsageEvent e)
        {
            InputTokens += e.InputTokens;
            OutputTokens += e.OutputTokens;
            TotalTokens += e.TotalTokens;
            BillableTokens += e.IsBillable ? e.TotalTokens : 0;
            Cost += e.Cost;
            Requests++;
            Errors += e.Outcome == UsageOutcome.Ok ? 0 : 1;
        }
    }
}
