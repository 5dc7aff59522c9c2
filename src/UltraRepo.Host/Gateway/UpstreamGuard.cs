using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using UltraRepo.Domain.Common;
using UltraRepo.Registry;
using Yarp.ReverseProxy.Forwarder;

namespace UltraRepo.Gateway;

/// <summary>
/// Connects the proxy to upstreams only on public addresses, checked after DNS resolution (so a
/// public name that resolves to 127.0.0.1 or 169.254.169.254 is refused too), unless the operator
/// allows private upstreams. A request the gateway marks as the host's own demo server may use loopback.
/// </summary>
public sealed class UpstreamGuard(IOptions<RegistryOptions> registry, IOptions<GatewayOptions> gateway, IUpstreamResolver resolver) : ForwarderHttpClientFactory
{
    public static readonly HttpRequestOptionsKey<bool> AllowLoopback = new("ultrarepo.allow-loopback");

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = gateway.Value.ConnectTimeout;
        handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60);
        handler.EnableMultipleHttp2Connections = true;
        handler.ConnectCallback = ConnectAsync;
    }

    private ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct) =>
        ConnectPublicAsync(context, resolver, registry.Value.AllowPrivateRemotes
            || (context.InitialRequestMessage.Options.TryGetValue(AllowLoopback, out var loopback) && loopback), ct);

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/> that refuses non-public addresses after DNS (also used by the registry importer).</summary>
    public static async ValueTask<Stream> ConnectPublicAsync(SocketsHttpConnectionContext context, IUpstreamResolver resolver, bool allowPrivate, CancellationToken ct)
    {
        var addresses = IPAddress.TryParse(context.DnsEndPoint.Host.Trim('[', ']'), out var literal)
            ? [literal]
            : await resolver.ResolveAsync(context.DnsEndPoint.Host, ct);
        var allowed = allowPrivate ? addresses : addresses.Where(a => !NetworkAddresses.IsNonPublic(a)).ToArray();
        if (allowed.Length == 0)
        {
            throw new UpstreamRefusedException($"upstream host {context.DnsEndPoint.Host} resolves only to private, loopback or link-local addresses");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

public sealed class UpstreamRefusedException(string message) : IOException(message);

/// <summary>Name resolution for upstream connections (a seam so tests can make a public name resolve to loopback).</summary>
public interface IUpstreamResolver
{
    ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken ct);
}

public sealed class DnsUpstreamResolver : IUpstreamResolver
{
    public async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => await Dns.GetHostAddressesAsync(host, ct);
}
