using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace UltraRepo.Gateway;

/// <summary>
/// Feeds YARP one route pair and one cluster per routable listing, straight from the registry:
/// <c>/mcp/{namespace}/{server}</c> (latest active version) and <c>/mcp/{namespace}/{server}@{version}</c>
/// (a pinned version). New versions, status changes and new URLs reach the routes through the
/// catalog's change token, without a restart.
/// </summary>
public sealed class RegistryProxyConfigProvider(GatewayCatalog catalog, Microsoft.Extensions.Options.IOptions<GatewayOptions> options) : IProxyConfigProvider
{
    public const string ServerMetadata = "ultrarepo.server";
    public const string PinnedMetadata = "ultrarepo.pinned";

    public IProxyConfig GetConfig()
    {
        var changeToken = catalog.ChangeToken;
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        var requestConfig = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = options.Value.UpstreamTimeout };
        foreach (var listing in catalog.Listings.Values)
        {
            var clusterId = "c:" + listing.ServerName;
            var basePath = $"/mcp/{listing.Namespace}/{listing.Name}";
            routes.Add(new RouteConfig
            {
                RouteId = "l:" + listing.ServerName,
                ClusterId = clusterId,
                Match = new RouteMatch { Path = basePath + "/{**rest}" },
                Metadata = new Dictionary<string, string> { [ServerMetadata] = listing.ServerName },
            });
            routes.Add(new RouteConfig
            {
                RouteId = "v:" + listing.ServerName,
                ClusterId = clusterId,
                Match = new RouteMatch { Path = basePath + "@{version}/{**rest}" },
                Metadata = new Dictionary<string, string> { [ServerMetadata] = listing.ServerName, [PinnedMetadata] = "true" },
            });
            clusters.Add(new ClusterConfig
            {
                ClusterId = clusterId,
                HttpRequest = requestConfig,
                Destinations = new Dictionary<string, DestinationConfig> { ["upstream"] = new() { Address = listing.ClusterAddress.Url.ToString() } },
            });
        }

        return new Config(routes, clusters, changeToken);
    }

    private sealed class Config(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, IChangeToken changeToken) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes => routes;
        public IReadOnlyList<ClusterConfig> Clusters => clusters;
        public IChangeToken ChangeToken => changeToken;
    }
}
