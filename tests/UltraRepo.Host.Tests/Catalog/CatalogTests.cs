using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;
using static UltraRepo.Host.Tests.Infrastructure.Json;

namespace UltraRepo.Host.Tests.Catalog;

public sealed class CatalogTestsOnSqlite() : CatalogTests(Provider.Sqlite);

public sealed class CatalogTestsOnPostgres() : CatalogTests(Provider.Postgres);

/// <summary>Ranked full-text search with filters on /api/catalog, on each provider's search engine.</summary>
public abstract class CatalogTests(Provider provider) : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(provider);

    public async Task InitializeAsync()
    {
        var alice = await _app.CreateUserAsync("alice");
        async Task Publish(object server) => (await alice.Api.PostAsJsonAsync("/v0.1/publish", server)).EnsureSuccessStatusCode();

        await Publish(new { name = "com.ultrarepo.alice/weather", title = "Weather", description = "Forecasts and weather alerts for any city", version = "1.0.0", remotes = new[] { new { type = "streamable-http", url = "https://weather.example.com/mcp" } } });
        await Publish(new { name = "com.ultrarepo.alice/calendar", description = "Calendar events; mentions weather once", version = "1.0.0", packages = new[] { new { registryType = "npm", identifier = "@alice/calendar", version = "1.0.0", transport = new { type = "stdio" } } } });
        await Publish(new { name = "com.ultrarepo.alice/files", description = "Read and write local files", version = "1.0.0", packages = new[] { new { registryType = "pypi", identifier = "alice-files", version = "1.0.0", transport = new { type = "stdio" } } } });
        _app.Clock.Advance(TimeSpan.FromMinutes(5));
        await Publish(new { name = "com.ultrarepo.alice/weather", title = "Weather", description = "Forecasts and weather alerts for any city", version = "1.1.0", remotes = new[] { new { type = "streamable-http", url = "https://weather.example.com/mcp" } } });
        (await alice.Api.PutAsJsonAsync($"/api/servers/{Encode("com.ultrarepo.alice/weather")}/pricing", new { model = "usage", usage = new { pricePer1k = "0.01" } })).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<JsonNode> Catalog(string query) => (await _app.CreateClient().GetFromJsonAsync<JsonNode>("/api/catalog?" + query))!;

    private static List<string> Names(JsonNode page) => page["items"]!.AsArray().Select(i => (string)i!["name"]!).ToList();

    [Fact]
    public async Task Search_RanksNameAndTitleMatchesAboveDescriptionMatches()
    {
        var page = await Catalog("q=weather");

        Assert.Equal(["com.ultrarepo.alice/weather", "com.ultrarepo.alice/calendar"], Names(page));
        Assert.True((double)page["items"]![0]!["score"]! > (double)page["items"]![1]!["score"]!, page.ToJsonString());
        Assert.Equal("1.1.0", (string?)page["items"]![0]!["version"]);
    }

    [Fact]
    public async Task Search_MatchesPrefixesAndRequiresEveryTerm()
    {
        Assert.Equal(["com.ultrarepo.alice/weather"], Names(await Catalog("q=forec%20alert")));
        Assert.Empty(Names(await Catalog("q=forecast%20files")));
    }

    [Fact]
    public async Task Search_QuerySyntaxInUserTextIsInert()
    {
        var response = await _app.CreateClient().GetAsync("/api/catalog?q=" + Uri.EscapeDataString("weather\" OR * NEAR( -- ');"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Filters_PricingKindAndRegistryType()
    {
        Assert.Equal(["com.ultrarepo.alice/weather"], Names(await Catalog("pricing=usage")));
        Assert.Equal(["com.ultrarepo.alice/calendar", "com.ultrarepo.alice/files"], Names(await Catalog("pricing=free")));
        Assert.Equal(["com.ultrarepo.alice/weather"], Names(await Catalog("kind=remote")));
        Assert.Equal(["com.ultrarepo.alice/files"], Names(await Catalog("registryType=pypi")));
    }

    [Fact]
    public async Task Sort_ByNameAndRecency()
    {
        Assert.Equal(["com.ultrarepo.alice/calendar", "com.ultrarepo.alice/files", "com.ultrarepo.alice/weather"], Names(await Catalog("sort=name")));
        Assert.Equal("com.ultrarepo.alice/weather", Names(await Catalog("sort=recent"))[0]);
    }

    [Fact]
    public async Task Paging_WithCursor()
    {
        var first = await Catalog("sort=name&limit=2");
        var second = await Catalog("sort=name&limit=2&cursor=" + (string)first["nextCursor"]!);

        Assert.Equal(["com.ultrarepo.alice/calendar", "com.ultrarepo.alice/files"], Names(first));
        Assert.Equal(["com.ultrarepo.alice/weather"], Names(second));
        Assert.Null(second["nextCursor"]);
    }

    [Theory]
    [InlineData("pricing=cheap", "query.pricing")]
    [InlineData("kind=cloud", "query.kind")]
    [InlineData("sort=stars", "query.sort")]
    [InlineData("cursor=%%%", "query.cursor")]
    [InlineData("q=%20%2B%2B", "query.q")]
    public async Task BadParameters_Return400NamingTheParameter(string query, string location)
    {
        var response = await _app.CreateClient().GetAsync("/api/catalog?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(location, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }
}
