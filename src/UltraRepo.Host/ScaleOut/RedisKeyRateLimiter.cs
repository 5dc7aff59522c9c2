using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using UltraRepo.Gateway;

namespace UltraRepo.ScaleOut;

/// <summary>Per-key token buckets shared by all gateway nodes (Redis script, Redis server clock).</summary>
public sealed class RedisKeyRateLimiter(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : IKeyRateLimiter
{
    // KEYS[1] bucket. ARGV: rate per second, burst. Returns 0 when admitted, else milliseconds to wait.
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local rate, burst = tonumber(ARGV[1]) / 1000, tonumber(ARGV[2])
        local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
        local tokens = tonumber(b[1]) or burst
        local ts = tonumber(b[2]) or now
        tokens = math.min(burst, tokens + (now - ts) * rate)
        local wait = 0
        if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
        return wait
        """;

    public async ValueTask<TimeSpan?> AcquireAsync(Guid keyId, CancellationToken ct)
    {
        var o = options.Value;
        var wait = (long)await redis.GetDatabase().ScriptEvaluateAsync(Script, [(RedisKey)$"ultrarepo:ratelimit:{keyId:N}"],
            [o.RequestsPerSecondPerKey.ToString(CultureInfo.InvariantCulture), o.BurstPerKey]);
        return wait == 0 ? null : TimeSpan.FromMilliseconds(wait);
    }
}
