using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using UltraRepo.Accounts;
using UltraRepo.Budgets;
using UltraRepo.Domain.Metering;
using UltraRepo.Domain.Pricing;
using UltraRepo.Metering;
using UltraRepo.Registry;
using UltraRepo.Subscriptions;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace UltraRepo.Gateway;

/// <summary>One request through the gateway: who, to which listing and version, since when.</summary>
/// <remarks>
/// A request may be settled after its HTTP exchange ended (legacy SSE answers arrive on the stream), so
/// everything settlement needs is captured here; <see cref="Http"/> is only used while the request runs.
/// </remarks>
internal sealed record MeteredRequest(HttpContext Http, GatewayListing Listing, GatewayUpstream Upstream, ResolvedKey Key, DateTime Now, long Started)
{
    public Guid ConsumerId => Key.User.Id;
    public string? SessionId { get; init; } = Http.Request.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } s ? s : null;
    public ITokenCounter Tokenizer { get; } = Tokenizers.Get(Listing.Tokenizer);
}

/// <summary>What the request transforms need to aim the proxied request.</summary>
public sealed class GatewayRequest
{
    public required Uri Destination { get; init; }
    public string? CredentialHeader { get; init; }
    public string? CredentialValue { get; init; }
    public bool AllowLoopback { get; init; }

    /// <summary>
    /// A small JSON answer (<see cref="ResponseTapStream.HoldsWhole"/>) is held whole by the tap and keeps its
    /// Content-Length; every other body is chunked by the gateway, its last chunk after the settlement.
    /// </summary>
    public bool HoldsSmallJson { get; init; }
}

/// <summary>
/// The gateway's step in YARP's proxy pipeline: authenticates the consumer's key, applies Origin,
/// rate limit, entitlement, monthly limit and budget rules, counts the request's tokens, lets the
/// proxy forward, counts the response's tokens as it streams back, settles the reservation and
/// records one usage event per JSON-RPC exchange.
/// </summary>
internal sealed partial class MeteringStep(
    GatewayCatalog catalog,
    ApiKeyResolver keys,
    OriginPolicy origins,
    IKeyRateLimiter rateLimiter,
    Entitlements entitlements,
    BudgetCache budgets,
    BudgetAlerts alerts,
    IUsageCounters counters,
    IUsageSink sink,
    LegacySseSessions legacy,
    SecretBox secrets,
    GatewayMetrics metrics,
    IOptions<GatewayOptions> options,
    IOptions<RegistryOptions> registry,
    TimeProvider clock,
    ILogger<MeteringStep> logger)
{
    private int _activeExchanges;

    /// <summary>POST and DELETE requests inside the gateway right now (streams not included).</summary>
    public int ActiveExchanges => Volatile.Read(ref _activeExchanges);

    public async Task InvokeAsync(HttpContext http, Func<Task> next)
    {
        var counted = !HttpMethods.IsGet(http.Request.Method);
        if (counted)
        {
            Interlocked.Increment(ref _activeExchanges);
        }

        try
        {
            await MeterAsync(http, next);
        }
        catch (OverflowException e) when (!http.Response.HasStarted)
        {
            // A price list stored before amounts were bounded: retrying cannot help, so no Retry-After.
            logger.LogError(e, "The price list of {Path} cannot rate a request", http.Request.Path);
            await GatewayErrors.WriteAsync(http, 502, GatewayErrors.Unrateable,
                "this listing's price list cannot be applied (an amount is out of range); its publisher must correct the pricing");
        }
        catch (Exception e) when (!http.Response.HasStarted && e is not OperationCanceledException)
        {
            // The gateway could not decide about the request (e.g. its database is unreachable and nothing is
            // cached): a clear, retryable JSON-RPC error, never a bare 500.
            logger.LogError(e, "The gateway failed before forwarding a request to {Path}", http.Request.Path);
            http.Response.Headers.RetryAfter = "5";
            await GatewayErrors.WriteAsync(http, 503, GatewayErrors.Unavailable, "the gateway cannot check this request right now; retry shortly");
        }
        finally
        {
            if (counted)
            {
                Interlocked.Decrement(ref _activeExchanges);
            }
        }
    }

    private async Task MeterAsync(HttpContext http, Func<Task> next)
    {
        var started = Stopwatch.GetTimestamp();
        var now = clock.GetUtcNow().UtcDateTime;
        // Upstream responses pass through as they are: no problem+json bodies added to empty error responses.
        if (http.Features.Get<Microsoft.AspNetCore.Diagnostics.IStatusCodePagesFeature>() is { } statusPages)
        {
            statusPages.Enabled = false;
        }

        var proxy = http.Features.Get<IReverseProxyFeature>()!;
        var routeMetadata = proxy.Route.Config.Metadata!;
        var listing = catalog.Find(routeMetadata[RegistryProxyConfigProvider.ServerMetadata]);
        if (listing is null)
        {
            await GatewayErrors.WriteAsync(http, 404, GatewayErrors.NotFound, "this server is not (or no longer) routable through the gateway");
            return;
        }

        var upstream = listing.Latest;
        if (routeMetadata.ContainsKey(RegistryProxyConfigProvider.PinnedMetadata))
        {
            var version = Uri.UnescapeDataString(http.GetRouteValue("version")?.ToString() ?? "");
            if (!listing.Versions.TryGetValue(version, out var pinned))
            {
                await GatewayErrors.WriteAsync(http, 404, GatewayErrors.NotFound, $"{listing.ServerName} has no routable version {version}");
                return;
            }

            upstream = pinned;
        }
        else if (upstream is null)
        {
            await GatewayErrors.WriteAsync(http, 404, GatewayErrors.NotFound,
                $"{listing.ServerName} has no active version; a deprecated version can still be pinned: /mcp/{listing.ServerName}@{{version}}");
            return;
        }

        if (!origins.Allows(http.Request))
        {
            await GatewayErrors.WriteAsync(http, 403, GatewayErrors.Forbidden, "Origin not allowed");
            return;
        }

        var token = ApiKeyAuthenticationHandler.ReadBearer(http.Request);
        var key = token is null ? null : await keys.ResolveAsync(token, http.RequestAborted);
        if (key is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await GatewayErrors.WriteAsync(http, 401, GatewayErrors.Unauthorized,
                token is null ? "an API key is required: Authorization: Bearer urk_…" : "invalid or revoked API key");
            return;
        }

        if (await rateLimiter.AcquireAsync(key.KeyId, http.RequestAborted) is { } retryAfter)
        {
            metrics.Rejection(listing.ServerName, "rate_limit");
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await GatewayErrors.WriteAsync(http, 429, GatewayErrors.Limited, "too many requests for this API key; slow down");
            return;
        }

        var rest = http.GetRouteValue("rest")?.ToString() ?? "";
        var request = new MeteredRequest(http, listing, upstream, key, now, started);
        if (UnsendableHeader(http.Request.Headers) is { } header)
        {
            // The upstream client would refuse to send it and the failure would read as the publisher's outage.
            await GatewayErrors.WriteAsync(http, 400, GatewayErrors.InvalidRequest,
                $"Invalid Request: the {header} header must be printable ASCII", data: new { header });
            if (http.Request.Method == "POST")
            {
                await RecordRefusalAsync(request, null, UsageOutcome.RpcError, 400, null, CancellationToken.None);
            }

            return;
        }

        switch (http.Request.Method)
        {
            case "POST" when upstream.TransportType == "sse" && rest == "message":
                await ForwardLegacyMessageAsync(request, next);
                break;
            case "POST" when rest.Length == 0:
                await ForwardPostAsync(request, next);
                break;
            case "GET" when rest.Length == 0:
                await ForwardStreamAsync(request, next);
                break;
            case "DELETE" when rest.Length == 0 && upstream.TransportType == "streamable-http":
                if (await EntitleAsync(request, null) is not null)
                {
                    await ProxyAsync(request, next, upstream.Url, observer: null);
                }

                break;
            default:
                await GatewayErrors.WriteAsync(http, 405, GatewayErrors.InvalidRequest, "the gateway accepts POST, GET and DELETE on the server's URL");
                break;
        }
    }

    private static readonly System.Buffers.SearchValues<char> SendableHeaderChars =
        System.Buffers.SearchValues.Create("\t" + string.Concat(Enumerable.Range(' ', '~' - ' ' + 1).Select(c => (char)c)));

    /// <summary>
    /// The first forwarded request header whose value is not visible ASCII, space or tab (e.g. a raw 0xFF in
    /// Mcp-Name, Last-Event-ID or Mcp-Session-Id), or null. Headers the gateway strips anyway are not checked.
    /// </summary>
    private static string? UnsendableHeader(IHeaderDictionary headers)
    {
        // Checked on every request: a span search, no per-character delegate.
        foreach (var (name, values) in headers)
        {
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Origin", StringComparison.OrdinalIgnoreCase) || name.Equals("Accept-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var value in values)
            {
                if (value is not null && value.AsSpan().ContainsAnyExcept(SendableHeaderChars))
                {
                    return name;
                }
            }
        }

        return null;
    }

    private async Task ForwardPostAsync(MeteredRequest r, Func<Task> next)
    {
        var body = await ReadBodyAsync(r);
        if (body is null)
        {
            return;
        }

        var exchanges = await ParseExchangesAsync(r, body);
        if (exchanges is null)
        {
            return;
        }

        var entitlement = await EntitleAsync(r, exchanges);
        if (entitlement is null)
        {
            return;
        }

        var reservation = await ReserveAsync(r, entitlement, exchanges);
        if (reservation is null)
        {
            return;
        }

        var tracker = new PostObserver(r, exchanges, this);
        using var tap = await ProxyAsync(r, next, r.Upstream.Url, tracker, holdSmallJson: true);
        await SettleExchangesAsync(r, entitlement, reservation, exchanges);
        // Only once the usage is recorded: if that failed, the consumer never receives a complete answer.
        if (tap is not null && r.Http.Features.Get<IForwarderErrorFeature>() is null)
        {
            await tap.ReleaseAsync(r.Http.RequestAborted);
        }
    }

    /// <summary>Reads the JSON-RPC body (up to the limit) and puts it back for the proxy to forward.</summary>
    private async Task<byte[]?> ReadBodyAsync(MeteredRequest r)
    {
        // MCP messages are posted as application/json; anything else is refused here rather than passed to a server
        // that may answer it with anything (the SDK's own server throws on a missing Content-Type).
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(r.Http.Request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await GatewayErrors.WriteAsync(r.Http, 415, GatewayErrors.InvalidRequest,
                $"MCP messages are posted with Content-Type: application/json (got {(string.IsNullOrEmpty(r.Http.Request.ContentType) ? "none" : r.Http.Request.ContentType)})");
            return null;
        }

        var max = options.Value.MaxRequestBodyBytes;
        if (r.Http.Request.ContentLength > max)
        {
            await GatewayErrors.WriteAsync(r.Http, 413, GatewayErrors.TooLarge, $"the request body exceeds the gateway's limit of {max} bytes");
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await r.Http.Request.Body.ReadAsync(chunk, r.Http.RequestAborted)) > 0)
            {
                if (buffer.Length + read > max)
                {
                    await GatewayErrors.WriteAsync(r.Http, 413, GatewayErrors.TooLarge, $"the request body exceeds the gateway's limit of {max} bytes");
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        var body = buffer.ToArray();
        r.Http.Request.Body = new MemoryStream(body, writable: false);
        r.Http.Request.ContentLength = body.Length;
        return body;
    }

    /// <summary>
    /// Malformed JSON-RPC is refused here, never forwarded: invalid JSON → 400 with -32700, JSON that is
    /// not a JSON-RPC message → 400 with -32600; both are recorded as <c>rpc_error</c> with no tokens.
    /// </summary>
    private async Task<List<Exchange>?> ParseExchangesAsync(MeteredRequest r, byte[] body)
    {
        var messages = McpTokenAccounting.CountBody(body, MessageDirection.ClientToServer, r.Tokenizer);
        if (messages.Any(m => m.Info.Kind == JsonRpcKind.Invalid))
        {
            var parses = IsJson(body);
            await GatewayErrors.WriteAsync(r.Http, 400, parses ? GatewayErrors.InvalidRequest : GatewayErrors.ParseError,
                parses ? "Invalid Request: the body is not a JSON-RPC 2.0 message" : "Parse error: the body is not valid JSON");
            await RecordRefusalAsync(r, null, UsageOutcome.RpcError, 400, null, CancellationToken.None);
            return null;
        }

        var exchanges = messages.Select(m => new Exchange(m.Info, m.Tokens)).ToList();
        if (exchanges.Count == 1 && r.Http.Request.Headers["Mcp-Method"].ToString() is { Length: > 0 } methodHeader
            && exchanges[0].Request.Method is { } method && !string.Equals(methodHeader, method, StringComparison.Ordinal))
        {
            await GatewayErrors.WriteAsync(r.Http, 400, GatewayErrors.HeaderMismatch,
                $"Header mismatch: Mcp-Method header value '{methodHeader}' does not match body value '{method}'.", exchanges[0].Request.Id);
            await RecordRefusalAsync(r, exchanges, UsageOutcome.RpcError, 400, null, CancellationToken.None);
            return null;
        }

        return exchanges;
    }

    private async Task<Entitlement?> EntitleAsync(MeteredRequest r, List<Exchange>? exchanges)
    {
        var listingUrl = $"{registry.Value.PublicUrl.TrimEnd('/')}/v0.1/servers/{Uri.EscapeDataString(r.Listing.ServerName)}/versions/latest";
        var entitlement = await entitlements.CheckAsync(r.ConsumerId, r.Listing.ServerName, r.Now, listingUrl, r.Http.RequestAborted);
        if (entitlement.Denied is { } denial)
        {
            metrics.Rejection(r.Listing.ServerName, denial.Reason);
            await GatewayErrors.WriteAsync(r.Http, 403, GatewayErrors.Forbidden, denial.Message, exchanges?.FirstOrDefault()?.Request.Id,
                new { reason = denial.Reason, fix = denial.Fix });
            if (exchanges is not null)
            {
                await RecordRefusalAsync(r, exchanges, UsageOutcome.Denied, 403, entitlement, CancellationToken.None);
            }

            return null;
        }

        return entitlement;
    }

    private async Task<Reservation?> ReserveAsync(MeteredRequest r, Entitlement entitlement, List<Exchange> exchanges)
    {
        var usage = entitlement.Plan.Usage;
        var consumerBudgets = await budgets.ForConsumerAsync(r.ConsumerId, r.Http.RequestAborted);
        var requests = exchanges.Count(e => e.ExpectsResponse);
        var admission = await counters.ReserveAsync(new ReservationRequest(
            r.ConsumerId,
            r.Listing.ServerName,
            entitlement.Period,
            entitlement.Plan.Currency,
            exchanges.Sum(e => e.InputTokens),
            requests * options.Value.OutputReservationTokens,
            MaxPricePerToken(usage),
            usage?.MonthlyTokenLimit,
            consumerBudgets), r.Http.RequestAborted);
        if (admission is Admission.Admitted admitted)
        {
            return admitted.Reservation;
        }

        var refused = (Admission.Refused)admission;
        metrics.Rejection(r.Listing.ServerName, refused.Reason);
        var nextPeriod = new DateTime(r.Now.Year, r.Now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1);
        r.Http.Response.Headers.RetryAfter = ((long)Math.Ceiling((nextPeriod - r.Now).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await GatewayErrors.WriteAsync(r.Http, 429, GatewayErrors.Limited, refused.Message, exchanges.FirstOrDefault()?.Request.Id,
            new { reason = refused.Reason, retryAfter = nextPeriod });
        await RecordRefusalAsync(r, exchanges, UsageOutcome.Limited, 429, entitlement, CancellationToken.None);
        return null;
    }

    private static decimal MaxPricePerToken(UsagePricing? usage) => usage is null ? 0m : usage.ChargeModel == ChargeModel.Package
        ? usage.PricePerPackage / Math.Max(1, usage.PackageSize)
        : usage.Tiers.Max(t => t.PricePer1K) / 1000m;

    /// <summary>
    /// Lets YARP forward (with the transforms aiming it at <paramref name="destination"/>), observing the response. With
    /// <paramref name="holdSmallJson"/>, a small JSON body is held by the returned tap until the caller releases it (and
    /// disposes the tap); otherwise nothing is returned.
    /// </summary>
    private async Task<ResponseTapStream?> ProxyAsync(MeteredRequest r, Func<Task> next, Uri destination, IResponseObserver? observer,
        Func<string, string>? rewriteEndpoint = null, bool holdSmallJson = false)
    {
        var http = r.Http;
        http.Features.Set(new GatewayRequest
        {
            Destination = destination,
            CredentialHeader = r.Listing.CredentialHeader,
            CredentialValue = r.Listing.CredentialSecret is { } secret ? secrets.Open(secret) : null,
            AllowLoopback = IsOwnDemoServer(destination),
            HoldsSmallJson = holdSmallJson,
        });

        var original = http.Response.Body;
        var tap = observer is null ? null : new ResponseTapStream(original, http.Response, observer, rewriteEndpoint, logger, holdSmallJson);
        if (tap is not null)
        {
            http.Response.Body = tap;
        }

        var forwarding = Stopwatch.GetTimestamp();
        try
        {
            await next();
            if (tap is not null && http.Features.Get<IForwarderErrorFeature>() is null)
            {
                await tap.CompleteAsync(CancellationToken.None);
            }
        }
        finally
        {
            http.Response.Body = original;
        }

        if (http.Features.Get<IForwarderErrorFeature>() is { } error)
        {
            await WriteUpstreamErrorAsync(r, error);
        }

        var total = Stopwatch.GetElapsedTime(r.Started);
        var upstreamTime = Stopwatch.GetElapsedTime(forwarding) - (tap?.ObserveTime ?? TimeSpan.Zero);
        metrics.Duration(r.Listing.ServerName, total, total - upstreamTime);
        if (holdSmallJson)
        {
            return tap; // the caller releases the held body, then disposes the tap
        }

        tap?.Dispose();
        return null;
    }

    private async Task WriteUpstreamErrorAsync(MeteredRequest r, IForwarderErrorFeature error)
    {
        var timedOut = error.Error is ForwarderError.RequestTimedOut || error.Exception is TimeoutException or TaskCanceledException { InnerException: TimeoutException };
        var refused = error.Exception is UpstreamRefusedException || error.Exception?.InnerException is UpstreamRefusedException;
        LogUpstreamFailure(logger, r.Listing.ServerName, error.Error, error.Exception?.GetBaseException().Message);
        if (error.Error is ForwarderError.RequestCanceled or ForwarderError.ResponseBodyCanceled)
        {
            return;
        }

        var id = r.Http.Items[ExchangeIdItem] as string;
        if (timedOut)
        {
            await GatewayErrors.WriteAsync(r.Http, 504, GatewayErrors.UpstreamTimeout, $"the upstream server did not answer within {options.Value.UpstreamTimeout.TotalSeconds:0} s", id);
        }
        else
        {
            await GatewayErrors.WriteAsync(r.Http, 502, GatewayErrors.UpstreamFailed,
                refused ? "the upstream server's address is not allowed (private or loopback)" : "the upstream server could not be reached", id);
        }
    }

    internal const string ExchangeIdItem = "ultrarepo.exchange-id";

    private DateTime UtcNow => clock.GetUtcNow().UtcDateTime;

    private bool IsOwnDemoServer(Uri destination) =>
        destination.IsLoopback
        && destination.AbsolutePath == Demo.DemoMcpServer.Path
        && Uri.TryCreate(registry.Value.PublicUrl, UriKind.Absolute, out var own)
        && own.IsLoopback && own.Port == destination.Port;

    private static bool IsJson(byte[] body)
    {
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(body);
            while (reader.Read())
            {
            }

            return true;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Upstream of {Server} failed: {Error} {Detail}")]
    private static partial void LogUpstreamFailure(ILogger logger, string server, ForwarderError error, string? detail);
}
