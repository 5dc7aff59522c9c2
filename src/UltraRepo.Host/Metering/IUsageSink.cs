namespace UltraRepo.Metering;

/// <summary>Where the request path records usage events. Completes once the event is durable (see the spool).</summary>
public interface IUsageSink
{
    ValueTask RecordAsync(UsageEvent usage, CancellationToken ct);

    /// <summary>Records several events (the spool appends them with one write); completes once all are durable.</summary>
    async ValueTask RecordManyAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        foreach (var usage in events)
        {
            await RecordAsync(usage, ct);
        }
    }
}
