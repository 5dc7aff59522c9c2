using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>A registered user: a cookie session, and an API key when one was created.</summary>
public sealed record BenchUser(Guid Id, string Handle, HttpClient Session, string? Key)
{
    public string Namespace => $"com.ultrarepo.{Handle}";
}

/// <summary>
/// Sets up accounts, listings, pricing and subscriptions through the marketplace's public HTTP API, as
/// publishers and consumers would (shapes as in the README walkthrough and the host tests).
/// </summary>
public sealed class MarketplaceApi(Uri baseAddress) : IDisposable
{
    public const string Password = "bench-Usage-2026!";
    public const string GraduatedPricing =
        """{"model":"usage","currency":"USD","usage":{"chargeModel":"graduated","tiers":[{"upTo":100000,"pricePer1k":"0.002"},{"upTo":1000000,"pricePer1k":"0.0015"},{"upTo":null,"pricePer1k":"0.001"}]}}""";

    private readonly List<HttpClient> _clients = [];

    public Uri BaseAddress => baseAddress;

    /// <summary>A client for load: many connections, no cookies.</summary>
    public HttpClient CreateClient(string? bearer = null, int connections = 64)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseCookies = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromMinutes(5),
        };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        lock (_clients)
        {
            _clients.Add(client);
        }

        return client;
    }

    /// <summary>Registers, signs in with a cookie and, when asked, creates an API key.</summary>
    public async Task<BenchUser> RegisterAsync(string handle, bool withKey)
    {
        var session = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), UseCookies = true, MaxConnectionsPerServer = 4 })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromMinutes(2),
        };
        lock (_clients)
        {
            _clients.Add(session);
        }

        var email = $"{handle}@bench.example.com";
        var registered = await SendAsync(session, HttpMethod.Post, "/api/auth/register", new { email, password = Password, handle });
        await SendAsync(session, HttpMethod.Post, "/api/auth/login", new { email, password = Password });
        string? key = null;
        if (withKey)
        {
            key = (string?)(await SendAsync(session, HttpMethod.Post, "/api/keys", new { name = "usage-bench" }))!["key"];
        }

        return new BenchUser(Guid.Parse((string)registered!["id"]!), handle, session, key);
    }

    /// <summary>Publishes a package listing (no remote: its usage arrives through ingestion or the store).</summary>
    public Task PublishPackageAsync(BenchUser publisher, string serverName, string title) =>
        SendAsync(publisher.Session, HttpMethod.Post, "/v0.1/publish", new
        {
            name = serverName,
            title,
            description = "Benchmark package listing",
            version = "1.0.0",
            packages = new[] { new { registryType = "npm", identifier = "@bench/" + serverName.Split('/')[1], version = "1.0.0", transport = new { type = "stdio" } } },
        });

    /// <summary>Publishes a listing for a streamable-http remote (routed by the gateway).</summary>
    public Task PublishRemoteAsync(BenchUser publisher, string serverName, Uri remote) =>
        SendAsync(publisher.Session, HttpMethod.Post, "/v0.1/publish", new
        {
            name = serverName,
            description = "Benchmark remote listing",
            version = "1.0.0",
            remotes = new[] { new { type = "streamable-http", url = remote.ToString() } },
        });

    public Task SetPricingAsync(BenchUser publisher, string serverName, string pricingJson = GraduatedPricing) =>
        SendAsync(publisher.Session, HttpMethod.Put, $"/api/servers/{Uri.EscapeDataString(serverName)}/pricing", JsonNode.Parse(pricingJson));

    /// <returns>The subscription id.</returns>
    public async Task<Guid> SubscribeAsync(BenchUser consumer, string serverName) =>
        Guid.Parse((string)(await SendAsync(consumer.Session, HttpMethod.Post, "/api/subscriptions", new { server = serverName }))!["id"]!);

    /// <summary>The gateway follows the registry asynchronously: a route exists once a call without a key gets 401 rather than 404.</summary>
    public async Task WaitForRouteAsync(string serverName, TimeSpan timeout)
    {
        using var probe = new HttpClient { BaseAddress = baseAddress };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            using var response = await probe.PostAsync("/mcp/" + serverName, new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json"));
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the gateway never routed {serverName} (last answer {(int)response.StatusCode})");
            }

            await Task.Delay(50);
        }
    }

    public static async Task<JsonNode?> SendAsync(HttpClient client, HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}: {text}");
        }

        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    /// <summary>Runs <paramref name="work"/> for each item with at most <paramref name="parallelism"/> at a time.</summary>
    public static Task ForEachAsync<T>(IEnumerable<T> items, int parallelism, Func<T, Task> work) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (item, _) => await work(item));

    public void Dispose()
    {
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }
    }
}
