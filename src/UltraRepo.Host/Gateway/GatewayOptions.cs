namespace UltraRepo.Gateway;

public sealed class GatewayOptions
{
    /// <summary>Largest request body the gateway accepts (413 above).</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Longest wait for upstream activity (response headers or the next bytes) before 504.</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Time allowed to connect to an upstream before 502.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Browser origins allowed to call the gateway; requests without Origin always pass.</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Output tokens reserved per request before its response is known (settled to the actual count after).</summary>
    public long OutputReservationTokens { get; set; } = 4096;

    /// <summary>Requests per second per API key (token bucket refill rate).</summary>
    public double RequestsPerSecondPerKey { get; set; } = 50;

    /// <summary>Token bucket size per API key (burst).</summary>
    public int BurstPerKey { get; set; } = 100;

    /// <summary>How often a node re-reads the registry for listing changes made on other nodes.</summary>
    public TimeSpan CatalogRefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}
