using UltraRepo.Domain.Metering;
using UltraRepo.Domain.Pricing;
using UltraRepo.Metering;
using UltraRepo.Subscriptions;

namespace UltraRepo.Gateway;

internal sealed partial class MeteringStep
{
    /// <summary>Matches what the upstream sends on a POST's response to the request(s) in that POST.</summary>
    private sealed class PostObserver : IResponseObserver
    {
        private readonly MeteredRequest _request;
        private readonly List<Exchange> _exchanges;
        private readonly Dictionary<string, string> _methodsById = new(StringComparer.Ordinal);

        public PostObserver(MeteredRequest request, List<Exchange> exchanges, MeteringStep step)
        {
            _request = request;
            _exchanges = exchanges;
            foreach (var e in exchanges.Where(e => e.ExpectsResponse && e.Request.Id is not null))
            {
                _methodsById[e.Request.Id!] = e.Request.Method!;
            }

            request.Http.Items[ExchangeIdItem] = exchanges.FirstOrDefault(e => e.ExpectsResponse)?.Request.Id;
            _ = step;
        }

        public ValueTask OnMessageAsync(ReadOnlyMemory<byte> json, CancellationToken ct)
        {
            foreach (var message in McpTokenAccounting.CountBody(json.Span, MessageDirection.ServerToClient, _request.Tokenizer, _methodsById))
            {
                var answered = message.Info.Kind == JsonRpcKind.Response && message.Info.Id is { } id
                    ? _exchanges.FirstOrDefault(e => e.ExpectsResponse && e.Request.Id == id)
                    : null;
                if (answered is not null)
                {
                    answered.OutputTokens += message.Tokens;
                    answered.Answered = true;
                    answered.AnsweredWithError = message.Info.IsError;
                }
                else
                {
                    // Progress, logging, sampling or elicitation requests on the stream belong to the request being served.
                    var owner = _exchanges.FirstOrDefault(e => e.ExpectsResponse && !e.Answered) ?? _exchanges[0];
                    owner.OutputTokens += message.Tokens;
                }
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>
    /// Outcome per exchange: answered with a result → ok, with a JSON-RPC error → rpc_error, no answer or an
    /// HTTP error from the upstream → upstream_error. Only ok and rpc_error are billable: their tokens count
    /// toward month-to-date usage, limits, budgets and cost.
    /// </summary>
    private async Task SettleExchangesAsync(MeteredRequest r, Entitlement entitlement, Reservation reservation, List<Exchange> exchanges)
    {
        var status = r.Http.Response.StatusCode;
        var failed = status >= 400 || r.Http.Features.Get<Yarp.ReverseProxy.Forwarder.IForwarderErrorFeature>() is not null;
        var first = true;
        foreach (var exchange in exchanges)
        {
            var outcome = failed ? UsageOutcome.UpstreamError
                : !exchange.ExpectsResponse ? UsageOutcome.Ok
                : !exchange.Answered ? UsageOutcome.UpstreamError
                : exchange.AnsweredWithError ? UsageOutcome.RpcError
                : UsageOutcome.Ok;
            // An initialize response creates the session: record it on the exchange that created it.
            var settled = r.SessionId is null && NewSessionId(r.Http) is { } created ? r with { SessionId = created } : r;
            await SettleAsync(settled, entitlement, first ? reservation : Reservation.None(r.ConsumerId, r.Listing.ServerName, entitlement.Period, entitlement.Plan.Currency),
                exchange, outcome, status);
            first = false;
        }
    }

    private async Task SettleAsync(MeteredRequest r, Entitlement entitlement, Reservation reservation, Exchange exchange, string outcome, int status)
    {
        var billable = outcome is UsageOutcome.Ok or UsageOutcome.RpcError;
        var tokens = billable ? exchange.InputTokens + exchange.OutputTokens : 0;
        var usage = entitlement.Plan.Usage;
        var consumerBudgets = await budgets.ForConsumerAsync(r.ConsumerId, CancellationToken.None);
        var settlement = await counters.SettleAsync(reservation, tokens,
            (before, n) => usage is null ? 0m : UsageRating.Marginal(usage, before, n), consumerBudgets, CancellationToken.None);
        metrics.Tokens(r.Listing.ServerName, exchange.InputTokens, exchange.OutputTokens);
        metrics.Request(r.Listing.ServerName, exchange.Method, outcome);
        await sink.RecordAsync(new UsageEvent
        {
            Timestamp = r.Now,
            Period = entitlement.Period,
            ConsumerId = r.ConsumerId,
            KeyId = r.Key.KeyId,
            SubscriptionId = entitlement.SubscriptionId,
            ServerName = r.Listing.ServerName,
            ServerVersion = r.Upstream.Version,
            Method = Truncate(exchange.Method, 128),
            Target = Truncate(exchange.Request.Target, 512),
            JsonRpcId = Truncate(exchange.Request.Id, 128),
            SessionId = Truncate(r.SessionId, 128),
            InputTokens = exchange.InputTokens,
            OutputTokens = exchange.OutputTokens,
            TotalTokens = exchange.InputTokens + exchange.OutputTokens,
            LatencyMs = (int)Math.Min(int.MaxValue, System.Diagnostics.Stopwatch.GetElapsedTime(r.Started).TotalMilliseconds),
            Outcome = outcome,
            HttpStatus = status,
            Cost = settlement.Cost,
            Currency = entitlement.Plan.Currency,
            Tokenizer = r.Listing.Tokenizer,
        }, CancellationToken.None);
        await alerts.NotifyAsync(r.ConsumerId, entitlement.Period, settlement.Crossings, CancellationToken.None);
    }

    /// <summary>Denied, limited and malformed requests are recorded too, without tokens or cost.</summary>
    private async Task RecordRefusalAsync(MeteredRequest r, List<Exchange>? exchanges, string outcome, int status, Entitlement? entitlement, CancellationToken ct)
    {
        foreach (var exchange in exchanges ?? [null!])
        {
            metrics.Request(r.Listing.ServerName, exchange?.Method ?? "invalid", outcome);
            await sink.RecordAsync(new UsageEvent
            {
                Timestamp = r.Now,
                Period = entitlement?.Period ?? Entitlements.PeriodOf(r.Now),
                ConsumerId = r.ConsumerId,
                KeyId = r.Key.KeyId,
                SubscriptionId = entitlement?.SubscriptionId,
                ServerName = r.Listing.ServerName,
                ServerVersion = r.Upstream.Version,
                Method = Truncate(exchange?.Method ?? "invalid", 128),
                Target = Truncate(exchange?.Request.Target, 512),
                JsonRpcId = Truncate(exchange?.Request.Id, 128),
                SessionId = Truncate(r.SessionId, 128),
                LatencyMs = (int)System.Diagnostics.Stopwatch.GetElapsedTime(r.Started).TotalMilliseconds,
                Outcome = outcome,
                HttpStatus = status,
                Currency = entitlement?.Plan.Currency ?? "USD",
                Tokenizer = r.Listing.Tokenizer,
            }, ct);
        }
    }

    /// <summary>
    /// A GET stream carries server-to-client messages not tied to a client request (and, after a
    /// <c>Last-Event-ID</c> resume, replayed responses); each is recorded as its own event with output tokens.
    /// </summary>
    private async Task ForwardStreamAsync(MeteredRequest r, Func<Task> next)
    {
        var entitlement = await EntitleAsync(r, null);
        if (entitlement is null)
        {
            return;
        }

        using var stream = metrics.Stream(r.Listing.ServerName);
        if (r.Upstream.TransportType == "sse")
        {
            var session = legacy.Open(r.ConsumerId, r.Listing.ServerName);
            try
            {
                var observer = new StreamObserver(this, r, entitlement, session);
                await ProxyAsync(r, next, r.Upstream.Url, observer, endpoint => session.Rewrite(endpoint, r.Upstream.Url, $"/mcp/{r.Listing.Namespace}/{r.Listing.Name}/message", secrets));
            }
            finally
            {
                foreach (var pending in legacy.Close(session))
                {
                    // The stream ended before these requests were answered.
                    await SettleAsync(pending.Request, pending.Entitlement, pending.Reservation, pending.Exchange, UsageOutcome.UpstreamError, 200);
                }
            }

            return;
        }

        await ProxyAsync(r, next, r.Upstream.Url, new StreamObserver(this, r, entitlement, null));
    }

    private sealed class StreamObserver(MeteringStep step, MeteredRequest request, Entitlement entitlement, LegacySseSessions.Session? legacySession) : IResponseObserver
    {
        public async ValueTask OnMessageAsync(ReadOnlyMemory<byte> json, CancellationToken ct)
        {
            foreach (var message in McpTokenAccounting.CountBody(json.Span, MessageDirection.ServerToClient, request.Tokenizer, legacySession?.MethodsById))
            {
                if (legacySession is not null && message.Info is { Kind: JsonRpcKind.Response, Id: { } id } && legacySession.TryComplete(id, out var pending))
                {
                    pending.Exchange.OutputTokens += message.Tokens;
                    pending.Exchange.Answered = true;
                    pending.Exchange.AnsweredWithError = message.Info.IsError;
                    await step.SettleAsync(pending.Request, pending.Entitlement, pending.Reservation, pending.Exchange,
                        message.Info.IsError ? UsageOutcome.RpcError : UsageOutcome.Ok, 200);
                    continue;
                }

                var exchange = new Exchange(message.Info, 0) { OutputTokens = message.Tokens, Answered = true };
                var stream = request with { Now = step.UtcNow };
                await step.SettleAsync(stream, entitlement, Reservation.None(request.ConsumerId, request.Listing.ServerName, entitlement.Period, entitlement.Plan.Currency),
                    exchange, UsageOutcome.Ok, 200);
            }
        }
    }

    /// <summary>
    /// Legacy HTTP+SSE: the client posts to the URL the gateway put in the <c>endpoint</c> event; the
    /// signed token in it names the upstream endpoint (same origin as the listing's SSE URL only). The
    /// upstream answers 202 and the response arrives on the SSE stream, where it completes the exchange.
    /// </summary>
    private async Task ForwardLegacyMessageAsync(MeteredRequest r, Func<Task> next)
    {
        var token = r.Http.Request.Query["session"].ToString();
        var session = legacy.Find(token, r.ConsumerId);
        var endpoint = session?.Endpoint;
        if (session is null || endpoint is null)
        {
            await GatewayErrors.WriteAsync(r.Http, 404, GatewayErrors.NotFound, "unknown or closed SSE session; open the stream again with GET");
            return;
        }

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

        // Registered before forwarding: the upstream may answer on the stream before its 202.
        var shares = exchanges.Select((e, i) => i == 0 ? reservation : Reservation.None(r.ConsumerId, r.Listing.ServerName, entitlement.Period, entitlement.Plan.Currency)).ToList();
        for (var i = 0; i < exchanges.Count; i++)
        {
            if (exchanges[i].ExpectsResponse && exchanges[i].Request.Id is { } id)
            {
                session.AddPending(id, new LegacySseSessions.Pending(r, entitlement, shares[i], exchanges[i]));
            }
        }

        await ProxyAsync(r, next, endpoint, observer: null);
        var status = r.Http.Response.StatusCode;
        var accepted = status is >= 200 and < 300;
        for (var i = 0; i < exchanges.Count; i++)
        {
            var exchange = exchanges[i];
            if (exchange.ExpectsResponse && exchange.Request.Id is { } id)
            {
                // Refused by the upstream: no answer will come. Otherwise the stream settles it (or already did).
                if (!accepted && session.TryComplete(id, out var pending))
                {
                    await SettleAsync(r, entitlement, pending.Reservation, exchange, UsageOutcome.UpstreamError, status);
                }

                continue;
            }

            await SettleAsync(r, entitlement, shares[i], exchange, accepted ? UsageOutcome.Ok : UsageOutcome.UpstreamError, status);
        }
    }

    /// <summary>The session an initialize response just created.</summary>
    private static string? NewSessionId(HttpContext http) => http.Response.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } id ? id : null;

    private static string? Truncate(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
