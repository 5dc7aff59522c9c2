using Microsoft.Extensions.Options;
using UltraRepo.Registry;

namespace UltraRepo.Gateway;

/// <summary>
/// The MCP transport's DNS-rebinding defence: a browser request whose <c>Origin</c> is not the
/// marketplace's own nor on <see cref="GatewayOptions.AllowedOrigins"/> is refused; requests without
/// an Origin (CLIs, SDKs, servers) pass.
/// </summary>
public sealed class OriginPolicy(IOptions<GatewayOptions> gateway, IOptions<RegistryOptions> registry)
{
    public bool Allows(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }

        return Same(origin, registry.Value.PublicUrl) || gateway.Value.AllowedOrigins.Any(allowed => allowed == "*" || Same(origin, allowed));
    }

    private static bool Same(string origin, string allowed) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var a) && Uri.TryCreate(allowed, UriKind.Absolute, out var b)
        && string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;
}
