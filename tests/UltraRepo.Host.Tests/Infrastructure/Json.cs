using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UltraRepo.Host.Tests.Infrastructure;

public static class Json
{
    public static async Task<JsonNode> ReadJsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidOperationException("empty body");

    public static Task<HttpResponseMessage> PatchAsJsonAsync<T>(this HttpClient client, string url, T body) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Patch, url) { Content = JsonContent.Create(body) });

    public static object Server(string name, string version = "1.0.0", string description = "A test server", object? remotes = null, object? packages = null) =>
        new Dictionary<string, object?>
        {
            ["name"] = name,
            ["description"] = description,
            ["version"] = version,
            ["remotes"] = remotes,
            ["packages"] = packages,
        }.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value);

    public static string Encode(string serverName) => Uri.EscapeDataString(serverName);

    public static JsonSerializerOptions Web { get; } = new(JsonSerializerDefaults.Web);
}
