using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace UltraRepo.Gateway;

/// <summary>Per-API-key request rate limit, a token bucket.</summary>
public interface IKeyRateLimiter
{
    /// <summary>Null when admitted, else how long until a request would be.</summary>
    ValueTask<TimeSpan?> AcquireAsync(Guid keyId, CancellationToken ct);
}

/// <summary>In-process token buckets for the single-node host.</summary>
public sealed class InMemoryKeyRateLimiter(IOptions<GatewayOptions> options) : IKeyRateLimiter, IDisposable
{
    private readonly PartitionedRateLimiter<Guid> _limiter = PartitionedRateLimiter.Create<Guid, Guid>(key =>
        RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.Value.BurstPerKey,
            TokensPerPeriod = Math.Max(1, (int)Math.Round(options.Value.RequestsPerSecondPerKey / 10)),
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public ValueTask<TimeSpan?> AcquireAsync(Guid keyId, CancellationToken ct)
    {
        using var lease = _limiter.AttemptAcquire(keyId);
        if (lease.IsAcquired)
        {
            return ValueTask.FromResult<TimeSpan?>(null);
        }

        return ValueTask.FromResult<TimeSpan?>(lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : TimeSpan.FromSeconds(1));
    }

    public void Dispose() => _limiter.Dispose();
}
