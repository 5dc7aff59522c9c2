namespace UltraRepo.Registry;

public sealed class RegistryOptions
{
    /// <summary>
    /// Accept remotes on loopback, private and link-local hosts. Off by default (SSRF); the operator
    /// turns it on with <c>ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS=true</c>.
    /// </summary>
    public bool AllowPrivateRemotes { get; set; }

    /// <summary>Serve anonymous registry and catalog reads from the output cache (see <see cref="RegistryCache"/>).</summary>
    public bool ResponseCaching { get; set; } = true;

    /// <summary>The marketplace's public base URL, used for gateway URLs in listings.</summary>
    public string PublicUrl { get; set; } = "http://localhost:5080";
}
