using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace UltraRepo.Lago;

/// <summary>One answer from Lago: status, parsed JSON body (null when not JSON), and any <c>Retry-After</c>.</summary>
public sealed record LagoResponse(int Status, JsonNode? Body, string Text, TimeSpan? RetryAfter)
{
    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary>Status and the start of the body, for logs and problem details (Lago's errors carry no secrets).</summary>
    public string Describe() => $"HTTP {Status}: {(Text.Length > 500 ? Text[..500] + "…" : Text)}";
}

/// <summary>Lago's REST API with the configured root and key. Throws only for transport failures and timeouts.</summary>
public sealed class LagoClient(IHttpClientFactory factory, TimeProvider clock)
{
    public const string HttpClientName = "Lago";

    public static void Configure(HttpClient http, LagoOptions options)
    {
        http.BaseAddress = options.BaseAddress;
        http.Timeout = options.Timeout;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("UltraRepo", "1.0"));
    }

    /// <summary><c>POST api/v1/events/batch</c> with <c>{"events": [...]}</c>.</summary>
    public Task<LagoResponse> SendEventsAsync(IReadOnlyList<JsonObject> events, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, "api/v1/events/batch", new JsonObject { ["events"] = new JsonArray(events.Select(e => (JsonNode)e.DeepClone()).ToArray()) }, ct);

    /// <summary>Sends to a path relative to the API root (no leading slash), e.g. <c>api/v1/plans</c>.</summary>
    public async Task<LagoResponse> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        using var response = await factory.CreateClient(HttpClientName).SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonNode? json = null;
        if (text.Length > 0)
        {
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
                // A proxy's HTML error page, say: the text is kept for the log.
            }
        }

        return new LagoResponse((int)response.StatusCode, json, text, RetryAfter(response.Headers.RetryAfter));
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - clock.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };
}

/// <summary>Registers the named client from the bound options.</summary>
internal static class LagoHttp
{
    public static IServiceCollection AddLagoHttpClient(this IServiceCollection services)
    {
        services.AddHttpClient(LagoClient.HttpClientName)
            .ConfigureHttpClient((sp, http) => LagoClient.Configure(http, sp.GetRequiredService<IOptions<LagoOptions>>().Value));
        return services;
    }
}
