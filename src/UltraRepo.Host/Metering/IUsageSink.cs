namespace UltraRepo.Metering;

/// <summary>Where the request path records usage events. Completes once the event is durable (see the spool).</summary>
public interface IUsageSink
{
    ValueTask RecordAsync(UsageEvent usage, CancellationToken ct);
}
