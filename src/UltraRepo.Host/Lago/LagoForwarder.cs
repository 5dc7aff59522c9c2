using Microsoft.Extensions.Options;
using Prometheus;
using UltraRepo.Metering;
using UltraRepo.Metering.Spool;

namespace UltraRepo.Lago;

/// <summary>
/// Forwards billable usage to Lago. Told about every batch the usage shipper committed to the database, it
/// appends the billable events of subscriptions to its own durable spool; its loop then sends them from its
/// checkpoint in batches (<c>Lago:BatchSize</c>, at most 100) and moves the checkpoint only once Lago has
/// answered for every event of the batch. Each event's <c>transaction_id</c> is our event id, so whatever is
/// sent twice (a retry after a lost answer, a replay after a crash) is one transaction to Lago.
/// </summary>
/// <remarks>
/// Per batch: a 2xx delivers it. 429, 408, 5xx and network errors are retried without end, waiting the
/// exponential backoff (<c>Lago:RetryBaseDelay</c> doubling up to <c>Lago:MaxRetryDelay</c>) or Lago's
/// <c>Retry-After</c> when it sends one (at most 5 minutes). 401, 403 and 404 mean the URL or key is wrong:
/// retried the same way, logged as errors, never dropped (the backlog grows until the operator fixes it).
/// A 422 naming events by index: those whose transaction already exists are delivered, the others it names
/// are dropped (logged with Lago's reason, <c>lago_events_dropped_total{reason="rejected_event"}</c>) and
/// the rest, which Lago did not store because the batch failed, are sent again at once. Any other 4xx
/// refuses the batch as a whole: after <c>Lago:MaxRejectedAttempts</c> the batch is dropped
/// (<c>reason="rejected_batch"</c>) so one bad batch cannot stop the sync. Dropped events stay in our database.
/// </remarks>
public sealed class LagoForwarder : BackgroundService, IShippedUsageObserver, IAsyncDisposable
{
    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(5);
    private static readonly Gauge BacklogEvents = Metrics.CreateGauge("lago_backlog_events", "Billable usage events queued for Lago on this node and not yet accepted by it.");
    private static readonly Gauge BacklogBytes = Metrics.CreateGauge("lago_backlog_bytes", "Bytes of usage events queued for Lago on this node.");
    private static readonly Gauge Lag = Metrics.CreateGauge("lago_sync_lag_seconds", "Age of the oldest usage event not yet accepted by Lago (0 when none).");
    private static readonly Counter DeliveredEvents = Metrics.CreateCounter("lago_events_delivered_total", "Usage events Lago accepted (or already had, by transaction_id).");
    private static readonly Counter DroppedEvents = Metrics.CreateCounter("lago_events_dropped_total", "Usage events given up on because Lago rejected them.", "reason");
    private static readonly Counter SkippedEvents = Metrics.CreateCounter("lago_events_skipped_total", "Billable usage events not forwarded because they belong to no subscription.");
    private static readonly Counter Failures = Metrics.CreateCounter("lago_send_failures_total", "Failed calls to Lago's events batch API.", "reason");

    private readonly UsageSpool _spool;
    private readonly LagoClient _client;
    private readonly LagoOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<LagoForwarder> _logger;
    private readonly long _backlogAtStart;
    private SpoolPosition _position;
    private long _delivered;
    private long _dropped;

    public LagoForwarder(LagoClient client, IOptions<LagoOptions> options, TimeProvider clock, ILogger<LagoForwarder> logger)
    {
        _client = client;
        _options = options.Value;
        _clock = clock;
        _logger = logger;
        _spool = new UsageSpool(Options.Create(new SpoolOptions { Directory = _options.SpoolDirectory }));
        _position = _spool.LoadCheckpoint();
        _backlogAtStart = CountFrom(_position);
        if (_backlogAtStart > 0)
        {
            _logger.LogInformation("{Count} usage events are still waiting for Lago; sending them now", _backlogAtStart);
        }
    }

    /// <summary>Events queued for Lago and not yet accepted or dropped.</summary>
    public long Pending => Math.Max(0, _backlogAtStart + _spool.Appended - Interlocked.Read(ref _delivered) - Interlocked.Read(ref _dropped));

    /// <summary>Events Lago accepted (or already had) since start.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Events given up on since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues the batch's billable events of subscriptions (the shipper checkpoints after this returns).</summary>
    public async Task OnShippedAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        var forwarded = new List<UsageEvent>(events.Count);
        foreach (var usage in events)
        {
            if (LagoEvents.IsForwarded(usage))
            {
                forwarded.Add(usage);
            }
            else if (usage.IsBillable)
            {
                SkippedEvents.Inc();
            }
        }

        // One write for the whole batch.
        await _spool.RecordManyAsync(forwarded, ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await ForwardBatchAsync(stoppingToken) == 0)
                {
                    UpdateGauges(null);
                    await _spool.WaitForAppendAsync(TimeSpan.FromSeconds(1), stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Not Lago (its failures are handled per batch): the local spool. The events stay queued.
                _logger.LogError(e, "Forwarding usage to Lago failed; retrying in {Delay}", _options.MaxRetryDelay);
                await Task.Delay(_options.MaxRetryDelay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Sends the next batch until Lago has answered for each of its events; returns how many it read.</summary>
    public async Task<int> ForwardBatchAsync(CancellationToken ct)
    {
        var (events, next) = _spool.Read(_position, _options.BatchSize);
        if (events.Count == 0)
        {
            if (next.CompareTo(_position) != 0)
            {
                _position = next;
                _spool.SaveCheckpoint(next);
            }

            return 0;
        }

        UpdateGauges(events[0]);
        await DeliverAsync(events, ct);
        _position = next;
        _spool.SaveCheckpoint(next);
        _spool.DeleteShipped(next);
        UpdateGauges(null);
        return events.Count;
    }

    private async Task DeliverAsync(List<UsageEvent> batch, CancellationToken ct)
    {
        var pending = batch;
        var failures = 0;
        var rejections = 0;
        while (pending.Count > 0)
        {
            LagoResponse response;
            try
            {
                response = await _client.SendEventsAsync(pending.Select(LagoEvents.ToLago).ToList(), ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Failures.WithLabels("network").Inc();
                _logger.LogWarning("Could not reach Lago to send {Count} usage events: {Error}", pending.Count, e.GetBaseException().Message);
                await WaitAsync(++failures, null, ct);
                continue;
            }

            if (response.IsSuccess)
            {
                CountDelivered(pending.Count);
                return;
            }

            if (LagoEvents.ReadBatchErrors(response, pending.Count) is { } errors)
            {
                CountDelivered(errors.AlreadyStored.Count);
                foreach (var (index, reason) in errors.Invalid)
                {
                    _logger.LogError("Lago rejected usage event {TransactionId}: {Reason}; it is not sent again (it stays in the usage database)", pending[index].Id, reason);
                }

                CountDropped("rejected_event", errors.Invalid.Count);
                pending = pending.Where((_, i) => !errors.AlreadyStored.Contains(i) && !errors.Invalid.ContainsKey(i)).ToList();
                continue;
            }

            switch (response.Status)
            {
                case 408 or 429 or >= 500:
                    Failures.WithLabels(response.Status == 429 ? "throttled" : "server_error").Inc();
                    _logger.LogWarning("Lago did not take {Count} usage events ({Response}); retrying", pending.Count, response.Describe());
                    await WaitAsync(++failures, response.RetryAfter, ct);
                    break;
                case 401 or 403 or 404:
                    Failures.WithLabels("configuration").Inc();
                    _logger.LogError("Lago refused usage events with {Response}: check Lago:ApiUrl and Lago:ApiKey; the events stay queued", response.Describe());
                    await WaitAsync(++failures, response.RetryAfter, ct);
                    break;
                default:
                    Failures.WithLabels("rejected").Inc();
                    if (++rejections >= _options.MaxRejectedAttempts)
                    {
                        _logger.LogError("Lago rejected a batch of {Count} usage events {Attempts} times ({Response}); dropping it (first transaction {First}, last {Last}; the events stay in the usage database)",
                            pending.Count, rejections, response.Describe(), pending[0].Id, pending[^1].Id);
                        CountDropped("rejected_batch", pending.Count);
                        return;
                    }

                    _logger.LogWarning("Lago rejected a batch of {Count} usage events ({Response}); attempt {Attempt} of {Max}", pending.Count, response.Describe(), rejections, _options.MaxRejectedAttempts);
                    await WaitAsync(++failures, response.RetryAfter, ct);
                    break;
            }
        }
    }

    /// <summary>Lago's <c>Retry-After</c> when given (at most 5 minutes), else the exponential backoff.</summary>
    private Task WaitAsync(int failures, TimeSpan? retryAfter, CancellationToken ct)
    {
        var backoff = _options.RetryBaseDelay * Math.Pow(2, Math.Min(failures - 1, 20));
        var delay = retryAfter is { } wait ? (wait < MaxRetryAfter ? wait : MaxRetryAfter)
            : backoff < _options.MaxRetryDelay ? backoff : _options.MaxRetryDelay;
        UpdateGauges(null);
        return Task.Delay(delay, ct);
    }

    private void CountDelivered(int count)
    {
        Interlocked.Add(ref _delivered, count);
        DeliveredEvents.Inc(count);
    }

    private void CountDropped(string reason, int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _dropped, count);
            DroppedEvents.WithLabels(reason).Inc(count);
        }
    }

    private long CountFrom(SpoolPosition position)
    {
        long count = 0;
        while (true)
        {
            var (events, next) = _spool.Read(position, 10_000);
            if (events.Count == 0)
            {
                return count;
            }

            count += events.Count;
            position = next;
        }
    }

    private void UpdateGauges(UsageEvent? oldest)
    {
        BacklogEvents.Set(Pending);
        BacklogBytes.Set(_spool.BytesAfter(_position));
        if (oldest is not null || Pending == 0)
        {
            Lag.Set(oldest is null ? 0 : Math.Max(0, (_clock.GetUtcNow().UtcDateTime - oldest.Timestamp).TotalSeconds));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Dispose();
        await _spool.DisposeAsync();
    }
}
