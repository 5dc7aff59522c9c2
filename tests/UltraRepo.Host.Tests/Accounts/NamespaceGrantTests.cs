using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Accounts;

public sealed class NamespaceGrantTestsOnSqlite() : NamespaceGrantTests(Provider.Sqlite);

public sealed class NamespaceGrantTestsOnPostgres() : NamespaceGrantTests(Provider.Postgres);

/// <summary>Admin namespace grants, on each provider's query translation.</summary>
public abstract class NamespaceGrantTests(Provider provider) : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(provider);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task ListGrants_ReturnsEveryGrantWithItsHandleOrderedByNamespace()
    {
        var admin = await _app.CreateAdminAsync();
        await _app.CreateUserAsync("nora");
        await _app.CreateUserAsync("otto");
        (await admin.Api.PostAsJsonAsync("/api/admin/namespaces", new { handle = "otto", @namespace = "io.github.otto" })).EnsureSuccessStatusCode();
        (await admin.Api.PostAsJsonAsync("/api/admin/namespaces", new { handle = "nora", @namespace = "io.github.nora" })).EnsureSuccessStatusCode();

        var response = await admin.Api.GetAsync("/api/admin/namespaces");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var grants = (await response.Content.ReadFromJsonAsync<JsonArray>())!;
        Assert.Equal(["io.github.nora", "io.github.otto"], grants.Select(g => (string)g!["namespace"]!));
        Assert.Equal(["nora", "otto"], grants.Select(g => (string)g!["handle"]!));
    }
}
