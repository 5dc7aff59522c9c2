using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;

namespace UltraRepo.Metering;

/// <summary>Accepts usage events from the request path without waiting for the database.</summary>
public interface IUsageSink
{
    ValueTask RecordAsync(UsageEvent usage, CancellationToken ct);
}

/// <summary>
/// Writes usage events to the database in batches from an in-process queue (the hot path only
/// enqueues). Shutdown drains the queue.
/// </summary>
public sealed class UsageRecorder(IServiceScopeFactory scopes, ILogger<UsageRecorder> logger) : BackgroundService, IUsageSink
{
    private const int BatchSize = 500;
    private readonly Channel<UsageEvent> _queue = Channel.CreateUnbounded<UsageEvent>(new UnboundedChannelOptions { SingleReader = true });
    private long _pending;

    public long Pending => Interlocked.Read(ref _pending);

    public ValueTask RecordAsync(UsageEvent usage, CancellationToken ct)
    {
        Interlocked.Increment(ref _pending);
        return _queue.Writer.WriteAsync(usage, ct);
    }

    /// <summary>Waits until everything recorded so far is in the database (tests, shutdown).</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        while (Pending > 0)
        {
            await Task.Delay(10, ct);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<UsageEvent>(BatchSize);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < BatchSize && _queue.Reader.TryRead(out var usage))
                {
                    batch.Add(usage);
                }

                await WriteAsync(batch, CancellationToken.None);
                batch.Clear();
            }
        }
        catch (OperationCanceledException)
        {
            // Shutdown: drain below.
        }

        while (_queue.Reader.TryRead(out var usage))
        {
            batch.Add(usage);
        }

        await WriteAsync(batch, CancellationToken.None);
    }

    private async Task WriteAsync(List<UsageEvent> batch, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
                db.UsageEvents.AddRange(batch);
                await db.SaveChangesAsync(ct);
                Interlocked.Add(ref _pending, -batch.Count);
                return;
            }
            catch (Exception e) when (attempt < 5 && e is DbUpdateException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning(e, "Writing {Count} usage events failed (attempt {Attempt}); retrying", batch.Count, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct);
            }
        }
    }
}

/// <summary>Month-to-date usage from the recorded events.</summary>
public sealed class DatabaseRecordedUsage(IServiceScopeFactory scopes) : IRecordedUsage
{
    public async Task<IReadOnlyList<RecordedUsage>> ForConsumerAsync(Guid consumerId, string period, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var rows = await db.UsageEvents.AsNoTracking()
            .Where(e => e.ConsumerId == consumerId && e.Period == period)
            .GroupBy(e => new { e.ServerName, e.Currency })
            .Select(g => new { g.Key.ServerName, g.Key.Currency, Tokens = g.Sum(e => e.TotalTokens), Cost = g.Sum(e => e.Cost) })
            .ToListAsync(ct);
        return rows.Select(r => new RecordedUsage(r.ServerName, r.Currency, r.Tokens, r.Cost)).ToList();
    }
}
