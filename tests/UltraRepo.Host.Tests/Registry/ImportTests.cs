using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Registry;

public sealed class ImportTestsOnSqlite() : ImportTests(Provider.Sqlite);

public sealed class ImportTestsOnPostgres() : ImportTests(Provider.Postgres);

/// <summary>Subregistry import of the official registry's May 2025 seed (471 listings).</summary>
public abstract class ImportTests(Provider provider) : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(provider);

    public static string SeedPath => Path.Combine(AppContext.BaseDirectory, "Data", "mcp-registry-seed-2025-05.json");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<JsonNode> ImportAsync(TestUser admin)
    {
        using var content = new StreamContent(File.OpenRead(SeedPath));
        content.Headers.ContentType = new("application/json");
        var response = await admin.Api.PostAsync("/api/admin/registry/import", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadJsonAsync();
    }

    [Fact]
    public async Task Import_Seed_ReportsEveryRejectionAndIsIdempotent()
    {
        var admin = await _app.CreateAdminAsync();

        var first = await ImportAsync(admin);

        var entries = first["entries"]!.AsArray();
        Assert.Equal(471, entries.Count);
        var tooLong = entries.Where(e => (string?)e!["result"] == "rejected"
            && e["reasons"]!.AsArray().Any(r => (string?)r!["location"] == "body.description" && (string?)r["message"] == "expected length <= 100")).ToList();
        Assert.InRange(tooLong.Count, 95, 110);
        Assert.All(entries.Where(e => (string?)e!["result"] == "rejected"), e => Assert.NotEmpty(e!["reasons"]!.AsArray()));
        var imported = (int)first["imported"]!;
        Assert.Equal(471, imported + (int)first["rejected"]!);
        Assert.True(imported > 250, $"only {imported} imported");

        var second = await ImportAsync(admin);

        Assert.Equal(0, (int)second["imported"]!);
        Assert.Equal(imported, (int)second["unchanged"]!);
        Assert.Equal((int)first["rejected"]!, (int)second["rejected"]!);

        var page = await _app.CreateClient().GetFromJsonAsync<JsonNode>("/v0.1/servers?limit=100&search=github");
        Assert.Equal(100, page!["servers"]!.AsArray().Count);
    }

    [Fact]
    public async Task Import_UpstreamStatusChange_IsReportedAsUpdated()
    {
        var admin = await _app.CreateAdminAsync();
        await ImportAsync(admin);
        var seed = JsonNode.Parse(await File.ReadAllTextAsync(SeedPath))!;
        var first = seed["servers"]!.AsArray().First(s => ((string?)s!["server"]!["description"])?.Length is > 0 and <= 100)!;
        first["_meta"]!["io.modelcontextprotocol.registry/official"]!["status"] = "deprecated";
        var single = new JsonObject { ["servers"] = new JsonArray(first.DeepClone()), ["metadata"] = new JsonObject { ["count"] = 1 } };

        var response = await admin.Api.PostAsync("/api/admin/registry/import", new StringContent(single.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));

        var report = await response.ReadJsonAsync();
        Assert.Equal(1, (int)report["updated"]!);
        var name = Uri.EscapeDataString((string)first["server"]!["name"]!);
        var stored = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{name}/versions/latest");
        Assert.Equal("deprecated", (string?)stored!["_meta"]!["io.modelcontextprotocol.registry/official"]!["status"]);
    }

    [Fact]
    public async Task Import_NotAListResponse_Returns400()
    {
        var admin = await _app.CreateAdminAsync();

        var response = await admin.Api.PostAsync("/api/admin/registry/import", new StringContent("{\"items\":[]}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Import_BadEntries_AreRejectedWithReasonsAndTheRunContinues()
    {
        var admin = await _app.CreateAdminAsync();
        var longMessage = new string('x', 600);
        var body = "{\"servers\":["
            + "{\"server\":{\"name\":\"io.github.imp/hw1\",\"description\":\"d\",\"version\":\"1.0.0\"}},"
            + "{\"server\":{\"name\":\"io.github.imp/hw2\",\"description\":\"d\",\"version\":\"1.0.0\",\"remotes\":[null]}},"
            + "{\"server\":{\"name\":\"io.github.imp/hw3\",\"description\":\"d\",\"version\":\"1.0.0\",\"_meta\":{\"io.modelcontextprotocol.registry/publisher-provided\":{\"a\":\"\\ud800\"}}}},"
            + "{\"server\":{\"name\":\"io.github.imp/hw4\",\"description\":\"d\",\"version\":\"1.0.0\"},\"_meta\":{\"io.modelcontextprotocol.registry/official\":{\"status\":\"deprecated\",\"statusMessage\":\"" + longMessage + "\"}}},"
            + "{\"server\":{\"name\":\"io.github.imp/hw5\",\"description\":\"d\",\"version\":\"1.0.0\"}}"
            + "]}";

        var response = await admin.Api.PostAsync("/api/admin/registry/import", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = await response.ReadJsonAsync();
        Assert.Equal(2, (int)report["imported"]!);
        Assert.Equal(3, (int)report["rejected"]!);
        var rejected = report["entries"]!.AsArray().Where(e => (string?)e!["result"] == "rejected").ToList();
        Assert.Equal(["io.github.imp/hw2", "io.github.imp/hw3", "io.github.imp/hw4"], rejected.Select(e => (string?)e!["name"]));
        Assert.All(rejected, e => Assert.NotEmpty(e!["reasons"]!.AsArray()));
        Assert.Equal("body.remotes[0]", (string?)rejected[0]!["reasons"]![0]!["location"]);
    }

    [Fact]
    public async Task Import_UpstreamRepeatingItsCursor_StopsInsteadOfLooping()
    {
        await using var app = new MarketplaceApp(provider, s => s["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true");
        var admin = await app.CreateAdminAsync();
        var pages = 0;
        await using var upstream = await StubRegistryAsync(() =>
        {
            Interlocked.Increment(ref pages);
            return "{\"servers\":[{\"server\":{\"name\":\"io.github.imp/loop\",\"description\":\"d\",\"version\":\"1.0.0\"}}],\"metadata\":{\"nextCursor\":\"same\"}}";
        });

        var response = await admin.Api.PostAsync("/api/admin/registry/import?url=" + Uri.EscapeDataString(upstream.Urls.First()), null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, pages);
    }

    [Fact]
    public async Task Import_LoopbackUpstream_IsRefusedWithoutConnecting()
    {
        var admin = await _app.CreateAdminAsync();
        var pages = 0;
        await using var upstream = await StubRegistryAsync(() =>
        {
            Interlocked.Increment(ref pages);
            return "{\"servers\":[]}";
        });

        var response = await admin.Api.PostAsync("/api/admin/registry/import?url=" + Uri.EscapeDataString(upstream.Urls.First()), null);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("private, loopback or link-local", (string?)(await response.ReadJsonAsync())["detail"]);
        Assert.Equal(0, pages);
    }

    private static async Task<WebApplication> StubRegistryAsync(Func<string> page)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var stub = builder.Build();
        stub.MapGet("/v0.1/servers", () => Results.Text(page(), "application/json"));
        await stub.StartAsync();
        return stub;
    }

    [Fact]
    public async Task Import_RequiresAdmin()
    {
        var user = await _app.CreateUserAsync("eve");

        var response = await user.Api.PostAsync("/api/admin/registry/import", new StringContent("{\"servers\":[]}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
