namespace UltraRepo.Lago;

/// <summary>
/// The optional Lago sync (section <c>Lago</c>). Off unless both <see cref="ApiUrl"/> and <see cref="ApiKey"/>
/// are set; then billable usage is also forwarded to Lago and listings' pricing can be exported as Lago plans.
/// </summary>
public sealed class LagoOptions
{
    /// <summary>Lago's API root, e.g. <c>https://api.getlago.com</c> or <c>http://localhost:3000</c> (a trailing <c>/api/v1</c> is accepted too).</summary>
    public string? ApiUrl { get; set; }

    /// <summary>The organization's API key, sent as <c>Authorization: Bearer</c>; never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Events per <c>POST /api/v1/events/batch</c>: Lago accepts at most 100.</summary>
    public int BatchSize { get; set; } = MaxBatchSize;

    /// <summary>This node's queue of events waiting for Lago (local disk, durable across restarts).</summary>
    public string SpoolDirectory { get; set; } = "./data/lago-spool";

    /// <summary>First wait after a failed call; doubles per attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts for a batch Lago rejects as a whole with a 4xx (other than 401, 403, 404, 408, 429) before it is dropped.</summary>
    public int MaxRejectedAttempts { get; set; } = 5;

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public const int MaxBatchSize = 100;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ApiUrl) && !string.IsNullOrWhiteSpace(ApiKey);

    /// <summary>The API root with a trailing slash, so request paths keep any prefix (a reverse proxy's, say).</summary>
    public Uri BaseAddress
    {
        get
        {
            var url = (ApiUrl ?? "").Trim().TrimEnd('/');
            if (url.EndsWith("/api/v1", StringComparison.OrdinalIgnoreCase))
            {
                url = url[..^"/api/v1".Length];
            }

            return new Uri(url + "/");
        }
    }

    /// <summary>Fails fast at start with what to fix.</summary>
    public void Validate()
    {
        if (!Uri.TryCreate(ApiUrl?.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new InvalidOperationException($"Lago:ApiUrl must be an absolute http(s) URL such as https://api.getlago.com (got \"{ApiUrl}\")");
        }

        if (BatchSize is < 1 or > MaxBatchSize)
        {
            throw new InvalidOperationException($"Lago:BatchSize must be between 1 and {MaxBatchSize} (Lago's limit per batch call); got {BatchSize}");
        }

        if (string.IsNullOrWhiteSpace(SpoolDirectory))
        {
            throw new InvalidOperationException("Lago:SpoolDirectory must name a local folder for events waiting for Lago");
        }

        if (MaxRejectedAttempts < 1 || RetryBaseDelay <= TimeSpan.Zero || MaxRetryDelay < RetryBaseDelay || Timeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Lago:MaxRejectedAttempts must be at least 1, and Lago:RetryBaseDelay, Lago:MaxRetryDelay (>= the base) and Lago:Timeout positive");
        }
    }
}
