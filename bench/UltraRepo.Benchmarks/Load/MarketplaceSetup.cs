using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace UltraRepo.Benchmarks.Load;

/// <summary>A listing the benchmark publishes, with the upstream URL it points at.</summary>
internal sealed record BenchListing(string ServerName, Uri Upstream)
{
    public Uri GatewayPath => new($"/mcp/{ServerName}", UriKind.Relative);
}

/// <summary>
/// Prepares the gateway through its public HTTP API, as a publisher and a consumer would: accounts, API keys,
/// listings with usage pricing, subscriptions. Returns the consumer's key.
/// </summary>
internal static class MarketplaceSetup
{
    private const string Password = "bench-Load-2026!";
    private const string Pricing = """{"model":"usage","currency":"USD","usage":{"chargeModel":"graduated","tiers":[{"upTo":100000,"pricePer1k":"0.002"},{"upTo":null,"pricePer1k":"0.001"}]}}""";

    public const string PublisherHandle = "benchpub";

    public static async Task<string> PrepareAsync(Uri gateway, IReadOnlyList<BenchListing> listings)
    {
        using var publisher = Session(gateway);
        var publisherKey = await CreateAccountAsync(publisher, PublisherHandle);
        foreach (var listing in listings)
        {
            await SendAsync(publisher, HttpMethod.Post, "/v0.1/publish", publisherKey, new
            {
                name = listing.ServerName,
                description = "bench",
                version = "1.0.0",
                remotes = new[] { new { type = "streamable-http", url = listing.Upstream.ToString() } },
            });
            await SendAsync(publisher, HttpMethod.Put, $"/api/servers/{Uri.EscapeDataString(listing.ServerName)}/pricing", publisherKey, JsonNode.Parse(Pricing));
        }

        using var consumer = Session(gateway);
        var consumerKey = await CreateAccountAsync(consumer, "benchcon");
        foreach (var listing in listings)
        {
            await SendAsync(consumer, HttpMethod.Post, "/api/subscriptions", null, new { server = listing.ServerName });
        }

        await WaitForRoutesAsync(gateway, listings, TimeSpan.FromSeconds(30));
        return consumerKey;
    }

    private static HttpClient Session(Uri gateway) =>
        new(new HttpClientHandler { CookieContainer = new CookieContainer(), UseCookies = true }) { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Registers, signs in (cookie) and creates an API key.</summary>
    private static async Task<string> CreateAccountAsync(HttpClient session, string handle)
    {
        var email = $"{handle}@bench.example.com";
        await SendAsync(session, HttpMethod.Post, "/api/auth/register", null, new { email, password = Password, handle });
        await SendAsync(session, HttpMethod.Post, "/api/auth/login", null, new { email, password = Password });
        var created = await SendAsync(session, HttpMethod.Post, "/api/keys", null, new { name = "gateway-load" });
        return created?["key"]?.GetValue<string>() ?? throw new InvalidOperationException("POST /api/keys returned no key");
    }

    private static async Task<JsonNode?> SendAsync(HttpClient session, HttpMethod method, string path, string? bearer, object? body)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = JsonContent.Create(body) };
        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        using var response = await session.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}: {text}");
        }

        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    /// <summary>The proxy's routes follow the registry asynchronously: a route exists once an unauthenticated call gets 401, not 404.</summary>
    private static async Task WaitForRoutesAsync(Uri gateway, IReadOnlyList<BenchListing> listings, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(30) };
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        foreach (var listing in listings)
        {
            while (true)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, listing.GatewayPath) { Content = new ByteArrayContent(LoadDriver.ToolsCall(1)) };
                using var response = await http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    break;
                }

                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"POST {listing.GatewayPath} without a key still answers {(int)response.StatusCode} (expected 401 once the route is loaded)");
                }

                await Task.Delay(250);
            }
        }
    }
}
