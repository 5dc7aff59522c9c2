using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Ingest;

/// <summary>
/// Lago's own JavaScript client (lago-javascript-client, installed by scripts/test.sh with npm ci in
/// tests/lago-client) sends events to a real marketplace listening on a port.
/// </summary>
public sealed class LagoClientTests
{
    private static string ClientFolder
    {
        get
        {
            var folder = new DirectoryInfo(AppContext.BaseDirectory);
            while (folder is not null && !Directory.Exists(Path.Combine(folder.FullName, "tests", "lago-client")))
            {
                folder = folder.Parent;
            }

            return Path.Combine(folder?.FullName ?? throw new DirectoryNotFoundException("tests/lago-client not found above the test folder"), "tests", "lago-client");
        }
    }

    [Fact]
    public async Task LagosJavaScriptClient_SendsSingleAndBatchEventsAndReadsThemBack()
    {
        Assert.True(Directory.Exists(Path.Combine(ClientFolder, "node_modules", "lago-javascript-client")),
            "run `npm ci` in tests/lago-client (scripts/test.sh does)");
        await using var app = new MarketplaceApp();
        app.UseKestrel(0);
        app.StartServer();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        app.ClientOptions.BaseAddress = new Uri(address);
        var publisher = await app.CreateUserAsync("alice");
        var consumer = await app.CreateUserAsync("bob");
        (await publisher.Api.PostAsJsonAsync("/v0.1/publish", Json.Server("com.ultrarepo.alice/local-tool", packages: new[] { new { registryType = "npm", identifier = "@alice/local-tool", version = "1.0.0", transport = new { type = "stdio" } } })))
            .EnsureSuccessStatusCode();
        (await publisher.Api.PutAsJsonAsync($"/api/servers/{Uri.EscapeDataString("com.ultrarepo.alice/local-tool")}/pricing", new { model = "usage", currency = "USD", usage = new { pricePer1k = "0.5" } }))
            .EnsureSuccessStatusCode();
        var subscription = (string)(await (await consumer.Api.PostAsJsonAsync("/api/subscriptions", new { server = "com.ultrarepo.alice/local-tool" })).ReadJsonAsync())["id"]!;

        var output = await RunNodeAsync(address, publisher.Key, subscription, app.Clock.GetUtcNow().ToUnixTimeSeconds());

        var result = JsonNode.Parse(output)!;
        Assert.Equal("accepted", (string?)result["single"]!["status"]);
        Assert.Equal("0.1", (string?)result["single"]!["cost"]);
        Assert.Equal("duplicate", (string?)result["retry"]!["status"]);
        Assert.Equal(["accepted", "accepted"], result["batch"]!.AsArray().Select(e => (string?)e!["status"]));
        Assert.Equal(422, (int)result["unknownSubscription"]!["status"]!);
        Assert.Equal("subscription_not_found", (string?)result["unknownSubscription"]!["body"]!["error_details"]!["external_subscription_id"]![0]);
        Assert.Equal(200, (long)result["found"]!["properties"]!["total_tokens"]!);
    }

    private static async Task<string> RunNodeAsync(string baseUrl, string key, string subscription, long now)
    {
        var start = new ProcessStartInfo("node", "send-events.mjs")
        {
            WorkingDirectory = ClientFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ULTRAREPO_URL"] = baseUrl, ["ULTRAREPO_KEY"] = key, ["SUBSCRIPTION_ID"] = subscription, ["NOW_UNIX"] = now.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"node failed: {await stderr}");
        return (await stdout).Trim().Split('\n').Last();
    }
}
