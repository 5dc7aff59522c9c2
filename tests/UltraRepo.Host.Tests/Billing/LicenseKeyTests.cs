using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using UltraRepo.Host.Tests.Gateway;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing;

/// <summary>License keys verify offline against the published public key; refunds revoke them online.</summary>
public sealed class LicenseKeyTests : IAsyncLifetime
{
    private const string Server = "com.ultrarepo.alice/pdf";
    private GatewayTestbed _bed = null!;

    public async Task InitializeAsync()
    {
        _bed = await GatewayTestbed.StartAsync(upstream: o => o.Stateless = true);
        await _bed.PublishAsync(Server, _bed.Upstream.StreamableEndpoint);
        await _bed.SetPricingAsync(Server, new { model = "license", currency = "EUR", license = new { price = "19.90" } });
    }

    public async Task DisposeAsync() => await _bed.DisposeAsync();

    private static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4));
    }

    [Fact]
    public async Task LicenseKey_VerifiesOfflineWithThePublishedEd25519Key()
    {
        var license = await (await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Server })).ReadJsonAsync();
        var key = (string)license["key"]!;
        var jwks = await _bed.App.CreateClient().GetFromJsonAsync<JsonNode>("/.well-known/ultrarepo/license-keys.json");

        // What a publisher's server does, with no call to the marketplace.
        var parts = key["ulk_".Length..].Split('.');
        var payload = FromBase64Url(parts[0]);
        var claims = JsonNode.Parse(Encoding.UTF8.GetString(payload))!;
        var jwk = jwks!["keys"]!.AsArray().Single(k => (string?)k!["kid"] == (string?)claims["kid"])!;
        var verifier = new Ed25519Signer();
        verifier.Init(false, new Ed25519PublicKeyParameters(FromBase64Url((string)jwk["x"]!), 0));
        verifier.BlockUpdate(payload, 0, payload.Length);

        Assert.True(verifier.VerifySignature(FromBase64Url(parts[1])));
        Assert.Equal(Server, (string?)claims["srv"]);
        Assert.Equal((string?)license["id"], (string?)claims["lid"]);
        // A tampered payload fails.
        var forged = "ulk_" + Convert.ToBase64String(Encoding.UTF8.GetBytes(claims.ToJsonString().Replace(Server, "com.ultrarepo.alice/other", StringComparison.Ordinal))).TrimEnd('=').Replace('+', '-').Replace('/', '_') + "." + parts[1];
        var check = await (await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key = forged })).ReadJsonAsync();
        Assert.False((bool)check["valid"]!);
        Assert.Equal("invalid_signature", (string?)check["reason"]);
        // No key at all is a bad request naming the field, not a verdict on a key.
        using var missing = await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key = (string?)null, server = (string?)null });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("body.key", (string?)(await missing.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Refund_RevokesTheLicenseAndTheGatewayEntitlementAndReversesTheSale()
    {
        var call = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}""";
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.PostRpcAsync(Server, call)).StatusCode);
        var license = await (await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Server })).ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, (await _bed.PostRpcAsync(Server, call)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Server })).StatusCode);
        var admin = await _bed.App.CreateAdminAsync();

        Assert.Equal(HttpStatusCode.NoContent, (await admin.Api.PostAsync($"/api/admin/licenses/{(string)license["id"]!}/refund", null)).StatusCode);

        var check = await (await _bed.Publisher.Api.PostAsJsonAsync("/api/licenses/validate", new { key = (string)license["key"]!, server = Server })).ReadJsonAsync();
        Assert.False((bool)check["valid"]!);
        Assert.Equal("revoked", (string?)check["reason"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await _bed.PostRpcAsync(Server, call)).StatusCode);
        var earnings = (await _bed.Publisher.Api.GetFromJsonAsync<JsonArray>("/api/publisher/earnings"))!.Single()!;
        Assert.Equal("0.00", (string?)earnings["balance"]);
        Assert.Equal(HttpStatusCode.Conflict, (await admin.Api.PostAsync($"/api/admin/licenses/{(string)license["id"]!}/refund", null)).StatusCode);
    }

    [Fact]
    public async Task Checkout_ForAListingNotSoldAsLicense_Returns400()
    {
        await _bed.SetPricingAsync(Server, new { model = "free" });

        var response = await _bed.Consumer.Api.PostAsJsonAsync("/api/licenses/checkout", new { server = Server });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.server", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }
}
