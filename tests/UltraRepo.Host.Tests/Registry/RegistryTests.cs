using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;
using static UltraRepo.Host.Tests.Infrastructure.Json;

namespace UltraRepo.Host.Tests.Registry;

public sealed class RegistryTestsOnSqlite() : RegistryTests(Provider.Sqlite);

public sealed class RegistryTestsOnPostgres() : RegistryTests(Provider.Postgres);

/// <summary>The official registry API (/v0.1 and /v0) through HTTP, on each storage provider.</summary>
public abstract class RegistryTests(Provider provider) : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(provider);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<HttpResponseMessage> PublishAsync(TestUser user, object server) => await user.Api.PostAsJsonAsync("/v0.1/publish", server);

    [Fact]
    public async Task Publish_OwnNamespace_Returns200WithOfficialMeta()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await PublishAsync(alice, Server("com.ultrarepo.alice/weather", remotes: new[] { new { type = "streamable-http", url = "https://weather.example.com/mcp" } }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("com.ultrarepo.alice/weather", (string?)body["server"]!["name"]);
        var official = body["_meta"]!["io.modelcontextprotocol.registry/official"]!;
        Assert.Equal("active", (string?)official["status"]);
        Assert.True((bool)official["isLatest"]!);
        Assert.Equal("2026-11-02T09:00:00Z", (string?)official["publishedAt"]);
        var marketplace = body["_meta"]!["com.ultrarepo/marketplace"]!;
        Assert.Equal("http://localhost:5080/mcp/com.ultrarepo.alice/weather", (string?)marketplace["gatewayUrl"]);
        Assert.Equal("free", (string?)marketplace["pricing"]!["model"]);
    }

    [Fact]
    public async Task Publish_WithoutKey_Returns401()
    {
        var response = await _app.CreateClient().PostAsJsonAsync("/v0.1/publish", Server("com.ultrarepo.x/y"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Publish_ForeignNamespace_Returns403NamingAllowedNamespaces()
    {
        var alice = await _app.CreateUserAsync("alice");
        await _app.CreateUserAsync("bob");

        var response = await PublishAsync(alice, Server("com.ultrarepo.bob/stolen"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var detail = (string)(await response.ReadJsonAsync())["detail"]!;
        Assert.Contains("com.ultrarepo.alice/*", detail);
        Assert.Equal(HttpStatusCode.NotFound, (await _app.CreateClient().GetAsync($"/v0.1/servers/{Encode("com.ultrarepo.bob/stolen")}/versions")).StatusCode);
    }

    [Fact]
    public async Task Publish_GrantedNamespace_IsAllowedAfterAdminGrant()
    {
        var admin = await _app.CreateAdminAsync();
        var alice = await _app.CreateUserAsync("alice");
        Assert.Equal(HttpStatusCode.Forbidden, (await PublishAsync(alice, Server("io.github.alice/tool"))).StatusCode);

        var grant = await admin.Api.PostAsJsonAsync("/api/admin/namespaces", new { handle = "alice", @namespace = "io.github.alice" });

        Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PublishAsync(alice, Server("io.github.alice/tool"))).StatusCode);
    }

    [Fact]
    public async Task Publish_DuplicateVersion_Returns409()
    {
        var alice = await _app.CreateUserAsync("alice");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/dup"))).EnsureSuccessStatusCode();

        var response = await PublishAsync(alice, Server("com.ultrarepo.alice/dup", description: "changed"));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("cannot publish duplicate version", (string)(await response.ReadJsonAsync())["detail"]!);
        var stored = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode("com.ultrarepo.alice/dup")}/versions/1.0.0");
        Assert.Equal("A test server", (string?)stored!["server"]!["description"]);
    }

    [Fact]
    public async Task Publish_InvalidDocument_Returns422WithEveryLocation()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await PublishAsync(alice, new
        {
            name = "com.ultrarepo.alice/bad",
            description = new string('d', 101),
            version = "^1.2.0",
            remotes = new[] { new { type = "websocket", url = "wss://x.example.com" } },
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var locations = (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]).ToList();
        Assert.Contains("body.description", locations);
        Assert.Contains("body.version", locations);
        Assert.Contains("body.remotes[0].type", locations);
    }

    [Fact]
    public async Task Publish_WrongJsonType_Returns400NamingTheField()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await alice.Api.PostAsync("/v0.1/publish", new StringContent("{\"name\":\"com.ultrarepo.alice/x\",\"version\":1}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.version", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    private const string Pkg = "{\"registryType\":\"npm\",\"identifier\":\"x\",\"version\":\"1.0.0\",\"transport\":{\"type\":\"stdio\"}";

    [Theory]
    [InlineData("\"remotes\":[null]", "body.remotes[0]")]
    [InlineData("\"packages\":[null]", "body.packages[0]")]
    [InlineData("\"icons\":[null]", "body.icons[0]")]
    [InlineData("\"icons\":[{\"src\":\"https://a.example.com/i.png\",\"sizes\":[null]}]", "body.icons[0].sizes[0]")]
    [InlineData("\"packages\":[" + Pkg + ",\"runtimeArguments\":[null]}]", "body.packages[0].runtimeArguments[0]")]
    [InlineData("\"packages\":[" + Pkg + ",\"packageArguments\":[null]}]", "body.packages[0].packageArguments[0]")]
    [InlineData("\"packages\":[" + Pkg + ",\"environmentVariables\":[null]}]", "body.packages[0].environmentVariables[0]")]
    public async Task Publish_NullArrayElement_Returns422NamingTheElement(string fragment, string location)
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await alice.Api.PostAsync("/v0.1/publish", RawJson("{\"name\":\"com.ultrarepo.alice/n1\",\"description\":\"d\",\"version\":\"1.0.0\"," + fragment + "}"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(location, (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]));
        Assert.Equal(HttpStatusCode.NotFound, (await _app.CreateClient().GetAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/n1")}/versions")).StatusCode);
    }

    [Fact]
    public async Task Publish_LoneSurrogateInPublisherMeta_Returns422()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await alice.Api.PostAsync("/v0.1/publish", RawJson("{\"name\":\"com.ultrarepo.alice/meta3\",\"description\":\"d\",\"version\":\"1.0.0\",\"_meta\":{\"io.modelcontextprotocol.registry/publisher-provided\":{\"a\":\"\\ud800\"}}}"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("body._meta.io.modelcontextprotocol.registry/publisher-provided", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Publish_RemoteUrlLongerThan2048_Returns422()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await PublishAsync(alice, Server("com.ultrarepo.alice/url", remotes: new[] { new { type = "streamable-http", url = "https://x.example.com/" + new string('a', 100_000) } }));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("body.remotes[0].url", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Theory]
    [InlineData("com.ultrarepo.alice/xy\n", null, "body.name")]
    [InlineData("com.ultrarepo.alice/ver", "1/2", "body.version")]
    [InlineData("com.ultrarepo.alice/ver", "LATEST", "body.version")]
    [InlineData("com.ultrarepo.alice/ver", "latest ", "body.version")]
    [InlineData("com.ultrarepo.alice/ver", "1.0.0 ", "body.version")]
    [InlineData("com.ultrarepo.alice/ver", "1.0.0\n", "body.version")]
    [InlineData("com.ultrarepo.alice/ver", "1.0.0\u0000", "body.version")]
    public async Task Publish_UnaddressableNameOrVersion_Returns422NamingTheField(string name, string? version, string location)
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await PublishAsync(alice, Server(name, version ?? "1.0.0"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(location, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Publish_TrailingNewlineInPatternFields_Returns422()
    {
        var alice = await _app.CreateUserAsync("alice");
        var server = new Dictionary<string, object>
        {
            ["$schema"] = "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json\n",
            ["name"] = "com.ultrarepo.alice/nl",
            ["description"] = "d",
            ["version"] = "1.0.0",
            ["repository"] = new { url = "https://github.com/a/b\n", source = "github" },
            ["icons"] = new[] { new { src = "https://a.example.com/i.png", sizes = new[] { "16x16\n" } } },
        };

        var response = await PublishAsync(alice, server);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var locations = (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => (string?)e!["location"]).ToList();
        Assert.Contains("body.$schema", locations);
        Assert.Contains("body.repository.url", locations);
        Assert.Contains("body.icons[0].sizes[0]", locations);
    }

    private static StringContent RawJson(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task Publish_PrivateRemote_IsRefusedAsSsrf()
    {
        var alice = await _app.CreateUserAsync("alice");

        var response = await PublishAsync(alice, Server("com.ultrarepo.alice/internal", remotes: new[] { new { type = "streamable-http", url = "http://169.254.169.254/latest" } }));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("body.remotes[0].url", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Publish_KeepsOnlyPublisherProvidedMeta()
    {
        var alice = await _app.CreateUserAsync("alice");
        var server = new Dictionary<string, object>
        {
            ["name"] = "com.ultrarepo.alice/meta",
            ["description"] = "x",
            ["version"] = "1.0.0",
            ["_meta"] = new Dictionary<string, object>
            {
                ["io.modelcontextprotocol.registry/publisher-provided"] = new { tool = "cli" },
                ["io.modelcontextprotocol.registry/official"] = new { isLatest = false, status = "deleted" },
                ["com.example/other"] = new { x = 1 },
            },
        };

        var body = await (await PublishAsync(alice, server)).ReadJsonAsync();

        var meta = body["server"]!["_meta"]!.AsObject();
        Assert.Equal(["io.modelcontextprotocol.registry/publisher-provided"], meta.Select(kv => kv.Key));
        Assert.True((bool)body["_meta"]!["io.modelcontextprotocol.registry/official"]!["isLatest"]!);
    }

    [Fact]
    public async Task Publish_OversizedPublisherMeta_Returns422()
    {
        var alice = await _app.CreateUserAsync("alice");
        var server = new Dictionary<string, object>
        {
            ["name"] = "com.ultrarepo.alice/big",
            ["description"] = "x",
            ["version"] = "1.0.0",
            ["_meta"] = new Dictionary<string, object> { ["io.modelcontextprotocol.registry/publisher-provided"] = new { blob = new string('x', 5000) } },
        };

        var response = await PublishAsync(alice, server);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("exceeds 4KB limit", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Latest_FollowsSemverNotPublishOrder()
    {
        var alice = await _app.CreateUserAsync("alice");
        const string name = "com.ultrarepo.alice/versions";
        foreach (var version in new[] { "1.0.0", "2.0.0", "1.5.0", "2.0.0-rc.1" })
        {
            _app.Clock.Advance(TimeSpan.FromMinutes(1));
            (await PublishAsync(alice, Server(name, version))).EnsureSuccessStatusCode();
        }

        var latest = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(name)}/versions/latest");
        var all = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(name)}/versions");

        Assert.Equal("2.0.0", (string?)latest!["server"]!["version"]);
        // Newest published first.
        Assert.Equal(["2.0.0-rc.1", "1.5.0", "2.0.0", "1.0.0"], all!["servers"]!.AsArray().Select(s => (string?)s!["server"]!["version"]));
        Assert.Single(all["servers"]!.AsArray(), s => (bool)s!["_meta"]!["io.modelcontextprotocol.registry/official"]!["isLatest"]!);
    }

    [Fact]
    public async Task Latest_NonSemverPublishedLaterIsLatest()
    {
        var alice = await _app.CreateUserAsync("alice");
        const string name = "com.ultrarepo.alice/dated";
        (await PublishAsync(alice, Server(name, "1.0.0"))).EnsureSuccessStatusCode();
        _app.Clock.Advance(TimeSpan.FromMinutes(1));
        (await PublishAsync(alice, Server(name, "2026.11.24"))).EnsureSuccessStatusCode();

        var latest = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(name)}/versions/latest");

        Assert.Equal("2026.11.24", (string?)latest!["server"]!["version"]);
    }

    [Fact]
    public async Task List_PagesWithOpaqueCursorInNameVersionOrder()
    {
        var alice = await _app.CreateUserAsync("alice");
        var names = Enumerable.Range(0, 7).Select(i => $"com.ultrarepo.alice/server-{i:D2}").ToList();
        foreach (var name in names.AsEnumerable().Reverse())
        {
            (await PublishAsync(alice, Server(name))).EnsureSuccessStatusCode();
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await _app.CreateClient().GetFromJsonAsync<JsonNode>("/v0.1/servers?limit=3" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            seen.AddRange(page!["servers"]!.AsArray().Select(s => (string)s!["server"]!["name"]!));
            Assert.Equal(page["servers"]!.AsArray().Count, (int)page["metadata"]!["count"]!);
            cursor = (string?)page["metadata"]!["nextCursor"];
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(names, seen);
        Assert.Equal(3, pages);
    }

    [Theory]
    [InlineData("limit=0", "query.limit")]
    [InlineData("limit=101", "query.limit")]
    [InlineData("limit=ten", "query.limit")]
    [InlineData("updated_since=yesterday", "query.updated_since")]
    [InlineData("updated_since=2026-01-01T00:00:00Z&include_deleted=false", "query.include_deleted")]
    public async Task List_BadQuery_ReturnsProblemNamingTheParameter(string query, string location)
    {
        var response = await _app.CreateClient().GetAsync("/v0.1/servers?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(location, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task List_SearchVersionAndUpdatedSinceFilter()
    {
        var alice = await _app.CreateUserAsync("alice");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/weather", "1.0.0", "Forecasts"))).EnsureSuccessStatusCode();
        (await PublishAsync(alice, Server("com.ultrarepo.alice/weather", "1.1.0", "Forecasts"))).EnsureSuccessStatusCode();
        (await PublishAsync(alice, Server("com.ultrarepo.alice/calendar", "1.0.0", "Weekly WEATHER digest"))).EnsureSuccessStatusCode();
        _app.Clock.Advance(TimeSpan.FromHours(1));
        var since = _app.Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'");
        _app.Clock.Advance(TimeSpan.FromMinutes(1));
        (await PublishAsync(alice, Server("com.ultrarepo.alice/notes"))).EnsureSuccessStatusCode();
        var client = _app.CreateClient();

        var search = await client.GetFromJsonAsync<JsonNode>("/v0.1/servers?search=Weather&version=latest");
        var exact = await client.GetFromJsonAsync<JsonNode>("/v0.1/servers?version=1.0.0");
        var updated = await client.GetFromJsonAsync<JsonNode>("/v0.1/servers?updated_since=" + since);

        Assert.Equal(["com.ultrarepo.alice/calendar@1.0.0", "com.ultrarepo.alice/weather@1.1.0"], Ids(search!));
        Assert.Equal(3, exact!["servers"]!.AsArray().Count);
        Assert.Equal(["com.ultrarepo.alice/notes@1.0.0"], Ids(updated!));
    }

    [Fact]
    public async Task Status_DeleteHidesVersionAndMovesLatest()
    {
        var alice = await _app.CreateUserAsync("alice");
        const string name = "com.ultrarepo.alice/lifecycle";
        (await PublishAsync(alice, Server(name, "1.0.0"))).EnsureSuccessStatusCode();
        (await PublishAsync(alice, Server(name, "2.0.0"))).EnsureSuccessStatusCode();

        var delete = await alice.Api.PatchAsJsonAsync($"/v0.1/servers/{Encode(name)}/versions/2.0.0/status", new { status = "deleted", statusMessage = "broken build" });

        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        var client = _app.CreateClient();
        Assert.Equal("1.0.0", (string?)(await client.GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(name)}/versions/latest"))!["server"]!["version"]);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v0.1/servers/{Encode(name)}/versions/2.0.0")).StatusCode);
        var withDeleted = await client.GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(name)}/versions/2.0.0?include_deleted=true");
        Assert.Equal("broken build", (string?)withDeleted!["_meta"]!["io.modelcontextprotocol.registry/official"]!["statusMessage"]);
        Assert.DoesNotContain(Ids((await client.GetFromJsonAsync<JsonNode>("/v0.1/servers"))!), id => id.EndsWith("@2.0.0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_AllVersionsChangeInOneRequest()
    {
        var alice = await _app.CreateUserAsync("alice");
        const string name = "com.ultrarepo.alice/old";
        (await PublishAsync(alice, Server(name, "1.0.0"))).EnsureSuccessStatusCode();
        (await PublishAsync(alice, Server(name, "1.1.0"))).EnsureSuccessStatusCode();

        var response = await alice.Api.PatchAsJsonAsync($"/v0/servers/{Encode(name)}/status", new { status = "deprecated", statusMessage = "use new" });

        var body = await response.ReadJsonAsync();
        Assert.Equal(2, (int)body["updatedCount"]!);
        Assert.All(body["servers"]!.AsArray(), s => Assert.Equal("deprecated", (string?)s!["_meta"]!["io.modelcontextprotocol.registry/official"]!["status"]));
        var again = await alice.Api.PatchAsJsonAsync($"/v0/servers/{Encode(name)}/status", new { status = "deprecated", statusMessage = "use new" });
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
    }

    [Fact]
    public async Task Status_ActiveWithMessage_Returns400()
    {
        var alice = await _app.CreateUserAsync("alice");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/svc"))).EnsureSuccessStatusCode();

        var response = await alice.Api.PatchAsJsonAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/svc")}/versions/1.0.0/status", new { status = "active", statusMessage = "x" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.statusMessage", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Status_AnotherUsersServer_Returns403AndChangesNothing()
    {
        var alice = await _app.CreateUserAsync("alice");
        var mallory = await _app.CreateUserAsync("mallory");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/mine"))).EnsureSuccessStatusCode();

        var response = await mallory.Api.PatchAsJsonAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/mine")}/status", new { status = "deleted" });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _app.CreateClient().GetAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/mine")}/versions/latest")).StatusCode);
    }

    [Fact]
    public async Task Status_AdminCanModerateAnyListing()
    {
        var alice = await _app.CreateUserAsync("alice");
        var admin = await _app.CreateAdminAsync();
        (await PublishAsync(alice, Server("com.ultrarepo.alice/spam"))).EnsureSuccessStatusCode();

        var response = await admin.Api.PatchAsJsonAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/spam")}/status", new { status = "deleted", statusMessage = "removed by moderation" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _app.CreateClient().GetAsync($"/v0.1/servers/{Encode("com.ultrarepo.alice/spam")}/versions")).StatusCode);
    }

    [Fact]
    public async Task Version_UnknownServer_Returns404Problem()
    {
        var response = await _app.CreateClient().GetAsync($"/v0/servers/{Encode("com.example/nope")}/versions/latest");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Server not found", (string?)(await response.ReadJsonAsync())["detail"]);
    }

    [Fact]
    public async Task CachedList_IsRefreshedByAPublishOnThisNode()
    {
        var alice = await _app.CreateUserAsync("alice");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/first"))).EnsureSuccessStatusCode();
        var client = _app.CreateClient();
        Assert.Single(Ids((await client.GetFromJsonAsync<JsonNode>("/v0.1/servers"))!));

        (await PublishAsync(alice, Server("com.ultrarepo.alice/second"))).EnsureSuccessStatusCode();

        Assert.Equal(2, Ids((await client.GetFromJsonAsync<JsonNode>("/v0.1/servers"))!).Count);
    }

    [Fact]
    public async Task CachedRead_NamesDifferingOnlyInCase_EachGetTheirOwnDocument()
    {
        var alice = await _app.CreateUserAsync("alice");
        (await PublishAsync(alice, Server("com.ultrarepo.alice/Upper2", description: "capital"))).EnsureSuccessStatusCode();
        (await PublishAsync(alice, Server("com.ultrarepo.alice/upper2", description: "small"))).EnsureSuccessStatusCode();
        var client = _app.CreateClient();

        // Both reads fall within the cache lifetime: the first fills the cache, the second must not hit it.
        var capital = await client.GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode("com.ultrarepo.alice/Upper2")}/versions/latest");
        var small = await client.GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode("com.ultrarepo.alice/upper2")}/versions/latest");

        Assert.Equal("capital", (string?)capital!["server"]!["description"]);
        Assert.Equal("small", (string?)small!["server"]!["description"]);
    }

    [Fact]
    public async Task HealthAndPing_Respond()
    {
        var client = _app.CreateClient();

        Assert.Equal("ok", (string?)(await client.GetFromJsonAsync<JsonNode>("/v0/health"))!["status"]);
        Assert.True((bool)(await client.GetFromJsonAsync<JsonNode>("/v0.1/ping"))!["pong"]!);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Contains("\"/v0.1/publish\"", await client.GetStringAsync("/openapi/v1.json"));
    }

    private static List<string> Ids(JsonNode page) =>
        page["servers"]!.AsArray().Select(s => $"{(string)s!["server"]!["name"]!}@{(string)s["server"]!["version"]!}").ToList();
}
