using System.Collections.Concurrent;
using System.Text;
using UltraRepo.Metering;
using UltraRepo.Subscriptions;

namespace UltraRepo.Gateway;

/// <summary>
/// Open legacy (2024-11-05 HTTP+SSE) streams on this node: the upstream endpoint each one was given,
/// and the requests posted to it that still wait for their response on the stream. A client must post
/// to the node that holds its stream for the exchange to be one event (sticky sessions); the token in
/// the endpoint URL is signed, so a client cannot aim the gateway anywhere else.
/// </summary>
internal sealed class LegacySseSessions
{
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public Session Open(Guid consumerId, string serverName)
    {
        var session = new Session(Guid.NewGuid().ToString("N"), consumerId, serverName);
        _sessions[session.Key] = session;
        return session;
    }

    public Session? Find(string token, Guid consumerId)
    {
        var key = token.Split('.')[0];
        return _sessions.TryGetValue(key, out var session) && session.ConsumerId == consumerId && session.Token == token ? session : null;
    }

    /// <summary>Closes a stream and hands back what was never answered.</summary>
    public IReadOnlyList<Pending> Close(Session session)
    {
        _sessions.TryRemove(session.Key, out _);
        return session.DrainPending();
    }

    internal sealed record Pending(MeteredRequest Request, Entitlement Entitlement, Reservation Reservation, Exchange Exchange);

    internal sealed class Session(string key, Guid consumerId, string serverName)
    {
        private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, string> _methods = new(StringComparer.Ordinal);

        public string Key { get; } = key;
        public Guid ConsumerId { get; } = consumerId;
        public string ServerName { get; } = serverName;
        public Uri? Endpoint { get; private set; }
        public string? Token { get; private set; }

        public IReadOnlyDictionary<string, string> MethodsById => _methods;

        /// <summary>Replaces the upstream's endpoint URL with the gateway's, remembering where it points.</summary>
        public string Rewrite(string upstreamEndpoint, Uri sseUrl, string gatewayPath, SecretBox secrets)
        {
            if (!Uri.TryCreate(sseUrl, upstreamEndpoint.Trim(), out var endpoint)
                || !string.Equals(endpoint.GetLeftPart(UriPartial.Authority), sseUrl.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase))
            {
                // An endpoint on another origin is never followed.
                return gatewayPath + "?session=invalid";
            }

            Endpoint = endpoint;
            var payload = $"{Key}|{endpoint.PathAndQuery}";
            Token = $"{Key}.{secrets.Sign(payload)}";
            return $"{gatewayPath}?session={Uri.EscapeDataString(Token)}";
        }

        public void AddPending(string id, Pending pending)
        {
            _methods[id] = pending.Exchange.Request.Method ?? "unknown";
            _pending[id] = pending;
        }

        public bool TryComplete(string id, out Pending pending)
        {
            _methods.TryRemove(id, out _);
            return _pending.TryRemove(id, out pending!);
        }

        public IReadOnlyList<Pending> DrainPending()
        {
            var all = _pending.Values.ToList();
            _pending.Clear();
            return all;
        }
    }
}
