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
        RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(options.Value)));

    /// <summary>Refills ten times a second at high rates, one token at a time at low rates, so the rate is exact.</summary>
    private static TokenBucketRateLimiterOptions Bucket(GatewayOptions o)
    {
        var rate = Math.Max(o.RequestsPerSecondPerKey, 0.001);
        var fast = rate >= 10;
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, o.BurstPerKey),
            TokensPerPeriod = fast ? (int)Math.Round(rate / 10) : 1,
            ReplenishmentPeriod = fast ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1 / rate),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

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
