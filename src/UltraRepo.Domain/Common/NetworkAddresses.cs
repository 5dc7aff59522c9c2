using System.Net;
using System.Net.Sockets;

namespace UltraRepo.Domain.Common;

/// <summary>
/// Classifies addresses a publisher's URL may not point at: loopback, private, link-local
/// (which holds cloud metadata services such as 169.254.169.254), carrier-grade NAT,
/// unspecified, multicast and broadcast.
/// </summary>
public static class NetworkAddresses
{
    public static bool IsLocalHostName(string host)
    {
        var h = host.TrimEnd('.').ToLowerInvariant();
        return h == "localhost" || h.EndsWith(".localhost", StringComparison.Ordinal);
    }

    /// <summary>True when <paramref name="host"/> is an IP literal or host name that is never a public upstream.</summary>
    public static bool IsNonPublicHost(string host)
    {
        if (IsLocalHostName(host))
        {
            return true;
        }

        var literal = host.Trim('[', ']');
        return IPAddress.TryParse(literal, out var address) && IsNonPublic(address);
    }

    public static bool IsNonPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] == 10
                || b[0] == 0
                || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 100 && b[1] >= 64 && b[1] <= 127)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 198 && (b[1] == 18 || b[1] == 19))
                || b[0] >= 224;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            // Addresses that carry an IPv4 address inside: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
            // the deprecated IPv4-compatible form (::a.b.c.d) are judged by the address they carry.
            if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..12].All(x => x == 0))
            {
                return IsNonPublic(new IPAddress(b[12..16]));
            }

            if (b[0] == 0x20 && b[1] == 0x02)
            {
                return IsNonPublic(new IPAddress(b[2..6]));
            }

            if (b[..12].All(x => x == 0))
            {
                return IsNonPublic(new IPAddress(b[12..16]));
            }

            return address.IsIPv6LinkLocal
                || address.IsIPv6SiteLocal
                || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC; // fc00::/7 unique local, including fd00:ec2::254 metadata
        }

        return true;
    }
}
