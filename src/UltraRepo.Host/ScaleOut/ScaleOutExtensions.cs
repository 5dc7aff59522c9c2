using StackExchange.Redis;
using UltraRepo.Gateway;
using UltraRepo.Metering;

namespace UltraRepo.ScaleOut;

/// <summary>
/// With <c>ConnectionStrings:Redis</c> set, what must be shared between gateway nodes lives in Redis:
/// usage counters and reservations (limits, budgets), per-key rate limits, and the output cache (so a
/// write on one node evicts cached registry pages on all).
/// </summary>
public static class ScaleOutExtensions
{
    public static IHostApplicationBuilder AddScaleOut(this IHostApplicationBuilder builder)
    {
        var redis = builder.Configuration.GetConnectionString("Redis");
        if (string.IsNullOrWhiteSpace(redis))
        {
            return builder;
        }

        var multiplexer = ConnectionMultiplexer.Connect(redis);
        builder.Services.AddSingleton<IConnectionMultiplexer>(multiplexer);
        builder.Services.AddSingleton<IUsageCounters, RedisUsageCounters>();
        builder.Services.AddSingleton<IKeyRateLimiter, RedisKeyRateLimiter>();
        builder.Services.AddStackExchangeRedisOutputCache(o =>
        {
            o.ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(multiplexer);
            o.InstanceName = "ultrarepo:";
        });
        return builder;
    }
}
