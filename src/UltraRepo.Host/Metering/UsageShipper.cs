using Prometheus;
using UltraRepo.Metering.Spool;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Metering;

/// <summary>
/// Moves usage events from this node's spool to the database in batches, idempotently (by event id),
/// and checkpoints its position only after the database committed. While the database is unavailable
/// events stay in the spool and the shipper retries with backoff; on shutdown it drains the spool.
/// </summary>
public sealed class UsageShipper(UsageSpool spool, IUsageStore store, IEnumerable<IShippedUsageObserver> observers, TimeProvider clock, ILogger<UsageShipper> logger) : BackgroundService
{
    /// <summary>Pause after a partial batch; adds at most this much to event-to-dashboard freshness.</summary>
    public static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(50);

    public UsageShipper(UsageSpool spool, IUsageStore store, TimeProvider clock, ILogger<UsageShipper> logger)
        : this(spool, store, [], clock, logger)
    {
    }

    private static readonly Gauge SpoolEvents = Metrics.CreateGauge("usage_spool_depth_events", "Usage events appended to this node's spool and not yet in the database.");
    private static readonly Gauge SpoolBytes = Metrics.CreateGauge("usage_spool_depth_bytes", "Bytes of usage events in this node's spool not yet shipped.");
    private static readonly Gauge Lag = Metrics.CreateGauge("usage_shipping_lag_seconds", "Age of the oldest usage event not yet in the database (0 when none).");
    private static readonly Counter Shipped = Metrics.CreateCounter("usage_events_shipped_total", "Usage events written to the database by this node.");
    private static readonly Counter Failures = Metrics.CreateCounter("usage_shipping_failures_total", "Failed attempts to write a batch of usage events.");

    /// <summary>The most events in one batch: the store's <see cref="IUsageStore.MaxBatch"/>.</summary>
    public int BatchSize { get; } = Math.Max(1, store.MaxBatch);

    private SpoolPosition _position;
    private long _shippedEvents;
    private long _backlogAtStart;

    /// <summary>Events appended on this node that are not yet in the database.</summary>
    public long Pending => Math.Max(0, spool.Appended + _backlogAtStart - Interlocked.Read(ref _shippedEvents));

    public SpoolPosition Position => _position;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _position = spool.LoadCheckpoint();
        var appendedBeforeStart = spool.Appended;
        var backlog = spool.CountAfter(_position);
        // Events this process appended before the shipper started are in both figures: count them once.
        _backlogAtStart = backlog - appendedBeforeStart;
        if (backlog > 0)
        {
            logger.LogInformation("Usage spool holds {Count} events not yet shipped; shipping them now", backlog);
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var shipped = await ShipAsync(stoppingToken);
                if (shipped == 0)
                {
                    UpdateGauges(null);
                    await spool.WaitForAppendAsync(TimeSpan.FromMilliseconds(100), stoppingToken);
                }
                else if (shipped < BatchSize)
                {
                    // A partial batch: let the next one fill a little instead of paying a transaction and a
                    // checkpoint sync per handful of events (a sixth of the gateway's CPU at 10k requests/s).
                    await Task.Delay(Linger, stoppingToken);
                }

                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                failures++;
                Failures.Inc();
                var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 100 * Math.Pow(2, Math.Min(failures, 6))));
                logger.LogWarning("Shipping usage events failed ({Attempt}): {Error}; retrying in {Delay} ms", failures, e.GetBaseException().Message, delay.TotalMilliseconds);
                UpdateGauges(null);
                await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>
    /// One step of the shipping loop: one batch, or as many batches at once as the store takes
    /// (<see cref="IUsageStore.ConcurrentWrites"/>). Returns how many events were shipped.
    /// </summary>
    public Task<int> ShipAsync(CancellationToken ct) => ShipBatchesAsync(Math.Max(1, store.ConcurrentWrites), ct);

    /// <summary>
    /// Ships up to <paramref name="inFlight"/> consecutive batches at once (only the last may be partial) and
    /// checkpoints each in spool order once it and every batch before it are committed. If one fails, the
    /// checkpoint stays before it and the batches after it are shipped again later (the store ignores events it
    /// already has). While a backlog waits (a batch came back full), the batch after the last one handed to the
    /// store is read and decoded on another thread during the write (<see cref="ReadAsync"/>). Returns how many
    /// events were shipped.
    /// </summary>
    private async Task<int> ShipBatchesAsync(int inFlight, CancellationToken ct)
    {
        var batches = new List<(Task Write, List<UsageEvent> Events, SpoolPosition Next)>();
        var from = _position;
        while (batches.Count < inFlight)
        {
            var (events, next) = await ReadAsync(from);
            if (events.Count == 0)
            {
                if (batches.Count == 0 && next.CompareTo(_position) != 0)
                {
                    _position = next;
                    spool.SaveCheckpoint(next);
                }

                break;
            }

            var full = events.Count >= BatchSize;
            if (full)
            {
                // Before the write: a store that writes synchronously (SQLite) returns only when it is done.
                ReadAhead(next);
            }

            UpdateGauges(batches.Count == 0 ? events[0] : null);
            batches.Add((WriteAndNotifyAsync(events, ct), events, next));
            from = next;
            if (!full)
            {
                break;
            }
        }

        if (batches.Count == 0)
        {
            return 0;
        }

        try
        {
            foreach (var batch in batches)
            {
                await batch.Write;
                _position = batch.Next;
                spool.SaveCheckpoint(batch.Next);
                Interlocked.Add(ref _shippedEvents, batch.Events.Count);
                Shipped.Inc(batch.Events.Count);
            }
        }
        finally
        {
            // Never leave a write running behind a failure: the next attempt re-reads from the checkpoint.
            await Task.WhenAll(batches.Select(b => b.Write)).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        spool.DeleteShipped(_position);
        return batches.Sum(b => b.Events.Count);
    }

    private (SpoolPosition From, Task<(List<UsageEvent> Events, SpoolPosition Next)> Read)? _readAhead;

    /// <summary>
    /// The batch at <paramref name="from"/>: the one read ahead when it starts there, else read now. A read ahead
    /// from anywhere else (the write before it failed, so shipping resumes at the checkpoint) is dropped. Records are
    /// never changed once appended, and segments are deleted only behind the checkpoint, so a batch read ahead is
    /// the batch that would be read now, or a prefix of it when more was appended since.
    /// </summary>
    private async Task<(List<UsageEvent> Events, SpoolPosition Next)> ReadAsync(SpoolPosition from)
    {
        var ahead = _readAhead;
        _readAhead = null;
        if (ahead is { } a && a.From == from)
        {
            return await a.Read;
        }

        return spool.Read(from, BatchSize);
    }

    /// <summary>Starts reading and decoding the batch at <paramref name="from"/> on the thread pool.</summary>
    private void ReadAhead(SpoolPosition from) => _readAhead = (from, Task.Run(() => spool.Read(from, BatchSize)));

    private async Task WriteAndNotifyAsync(List<UsageEvent> events, CancellationToken ct)
    {
        await store.WriteAsync(events, ct);
        // Before the checkpoint: after a crash the batch is read again, so observers see it at least once.
        foreach (var observer in observers)
        {
            await observer.OnShippedAsync(events, ct);
        }
    }

    /// <summary>Graceful shutdown: everything appended so far goes to the database (bounded by the host's shutdown timeout).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (await ShipBatchAsync(cancellationToken) == 0)
                {
                    return;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Could not drain the usage spool at shutdown: {Error}; the events stay in the spool for the next start", e.GetBaseException().Message);
                return;
            }
        }
    }

    /// <summary>Ships one batch; returns how many events it read.</summary>
    public Task<int> ShipBatchAsync(CancellationToken ct) => ShipBatchesAsync(1, ct);

    private void UpdateGauges(UsageEvent? oldest)
    {
        SpoolEvents.Set(Pending);
        SpoolBytes.Set(spool.BytesAfter(_position));
        Lag.Set(oldest is null ? 0 : Math.Max(0, (clock.GetUtcNow().UtcDateTime - oldest.Timestamp).TotalSeconds));
    }
}

/// <summary>Told about every batch once it is in the database (at least once; e.g. the optional Lago sync).</summary>
public interface IShippedUsageObserver
{
    Task OnShippedAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct);
}
