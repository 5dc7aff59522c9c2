using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Accounts;

public sealed class AccountsTests : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Register_ValidAccount_Returns201WithOwnNamespace()
    {
        var client = _app.CreateClient();
        var response = await client.PostAsJsonAsync("/api/auth/register", new { email = "Dana@Example.com", password = "sturdy-pass-99", handle = "Dana" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.ReadJsonAsync();
        Assert.Equal("dana@example.com", (string?)body["email"]);
        Assert.Equal("dana", (string?)body["handle"]);
        Assert.Equal("com.ultrarepo.dana", (string?)body["namespaces"]![0]);
    }

    [Theory]
    [InlineData("dup@example.com", "other", "body.email")]
    [InlineData("other@example.com", "dup", "body.handle")]
    public async Task Register_DuplicateEmailOrHandle_Returns409NamingTheField(string email, string handle, string location)
    {
        var client = _app.CreateClient();
        (await client.PostAsJsonAsync("/api/auth/register", new { email = "dup@example.com", password = "sturdy-pass-99", handle = "dup" })).EnsureSuccessStatusCode();

        var response = await client.PostAsJsonAsync("/api/auth/register", new { email, password = "sturdy-pass-99", handle });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(location, (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Theory]
    [InlineData("short1!", "password must be at least 10 characters long")]
    [InlineData("onlyletterspassword", "password must mix letters with digits or symbols")]
    [InlineData("aaaaaaaaaa1", "password must contain at least 5 different characters")]
    [InlineData("my-erin-password-1", "password must not contain the handle")]
    public async Task Register_WeakPassword_Returns400NamingTheRule(string password, string rule)
    {
        var response = await _app.CreateClient().PostAsJsonAsync("/api/auth/register", new { email = "erin@example.com", password, handle = "erin" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync())["errors"]![0]!;
        Assert.Equal("body.password", (string?)error["location"]);
        Assert.Equal(rule, (string?)error["message"]);
    }

    [Fact]
    public async Task Register_MalformedJson_Returns400ProblemNotServerError()
    {
        var response = await _app.CreateClient().PostAsync("/api/auth/register", new StringContent("{\"email\": 42", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Login_WrongPassword_Returns401AndSetsNoCookie()
    {
        var user = await _app.CreateUserAsync("frank");
        var client = _app.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true });

        var response = await client.PostAsJsonAsync("/api/auth/login", new { email = user.Email, password = "wrong-password-1" });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Login_RepeatedFailures_LocksTheAccountWith429()
    {
        var user = await _app.CreateUserAsync("gina");
        var client = _app.CreateClient();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsJsonAsync("/api/auth/login", new { email = user.Email, password = "wrong-password-1" })).StatusCode);
        }

        var locked = await client.PostAsJsonAsync("/api/auth/login", new { email = user.Email, password = user.Password });

        Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
    }

    [Fact]
    public async Task Logout_EndsTheCookieSession()
    {
        var user = await _app.CreateUserAsync("hana");
        Assert.Equal(HttpStatusCode.OK, (await user.Cookies.GetAsync("/api/me")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await user.Cookies.PostAsync("/api/auth/logout", null)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await user.Cookies.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task CreateKey_ShowsSecretOnceAndStoresOnlyItsHash()
    {
        var user = await _app.CreateUserAsync("ivan");
        var created = await (await user.Cookies.PostAsJsonAsync("/api/keys", new { name = "ci" })).ReadJsonAsync();
        var secret = (string)created["key"]!;

        Assert.StartsWith("urk_", secret);
        Assert.Equal(secret[..12], (string?)created["prefix"]);
        var listed = await user.Cookies.GetStringAsync("/api/keys");
        Assert.DoesNotContain(secret, listed);
        Assert.Contains("\"prefix\":\"" + secret[..12] + "\"", listed);

        using var scope = _app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var stored = await db.ApiKeys.SingleAsync(k => k.Name == "ci");
        Assert.NotEqual(secret, stored.Hash);
        Assert.DoesNotContain(secret, stored.Hash + stored.Prefix + stored.Name);
        Assert.Equal(UltraRepo.Accounts.ApiKeySecrets.Hash(secret), stored.Hash);
    }

    [Fact]
    public async Task BearerKey_AuthenticatesAndRecordsLastUse()
    {
        var user = await _app.CreateUserAsync("jules");

        var me = await user.Api.GetAsync("/api/me");

        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal("jules", (string?)(await me.ReadJsonAsync())["handle"]);
        var keys = await (await user.Api.GetAsync("/api/keys")).ReadJsonAsync();
        Assert.NotNull((string?)keys[0]!["lastUsedAt"]);
    }

    [Fact]
    public async Task RevokedKey_IsRejectedWith401AndBearerChallenge()
    {
        var user = await _app.CreateUserAsync("kim");
        var keys = await (await user.Cookies.GetAsync("/api/keys")).ReadJsonAsync();
        var id = (string)keys[0]!["id"]!;
        Assert.Equal(HttpStatusCode.OK, (await user.Api.GetAsync("/api/me")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await user.Cookies.DeleteAsync($"/api/keys/{id}")).StatusCode);

        var response = await user.Api.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task UnknownKey_Returns401()
    {
        var client = _app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "urk_" + new string('x', 40));

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Keys_AreScopedToTheirOwner()
    {
        var owner = await _app.CreateUserAsync("lena");
        var other = await _app.CreateUserAsync("milo");
        var ownerKeys = await (await owner.Cookies.GetAsync("/api/keys")).ReadJsonAsync();
        var ownerKeyId = (string)ownerKeys[0]!["id"]!;

        var otherList = await other.Api.GetStringAsync("/api/keys");
        var revoke = await other.Api.DeleteAsync($"/api/keys/{ownerKeyId}");

        Assert.DoesNotContain(ownerKeyId, otherList);
        Assert.Equal(HttpStatusCode.NotFound, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.Api.GetAsync("/api/me")).StatusCode);
    }

    [Theory]
    [InlineData("a\u0000b")]
    [InlineData("\u001b[31mred")]
    [InlineData("laptop\r\nX-Injected: 1")]
    [InlineData("\u202eevil")]
    [InlineData("zero\u200bwidth")]
    [InlineData("line\u2028break")]
    public async Task CreateKey_NameWithControlOrInvisibleCharacters_Returns400NamingName(string name)
    {
        var user = await _app.CreateUserAsync("kim");

        var response = await user.Cookies.PostAsJsonAsync("/api/keys", new { name });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.name", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Theory]
    [InlineData("laptop – café ☕", HttpStatusCode.Created)]
    [InlineData("x", HttpStatusCode.Created)]
    public async Task CreateKey_PrintableUnicodeName_IsAccepted(string name, HttpStatusCode expected)
    {
        var user = await _app.CreateUserAsync("lena");

        Assert.Equal(expected, (await user.Cookies.PostAsJsonAsync("/api/keys", new { name })).StatusCode);
    }

    [Fact]
    public async Task AdminEndpoints_RefuseNonAdmins()
    {
        var user = await _app.CreateUserAsync("nora");

        var response = await user.Api.PostAsJsonAsync("/api/admin/namespaces", new { handle = "nora", @namespace = "io.github.nora" });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}

public sealed class AdminBootstrapTests
{
    [Fact]
    public async Task AdminEnvironmentVariables_CreateAnAdminAtStart()
    {
        await using var app = new MarketplaceApp(configure: s =>
        {
            s["ULTRAREPO_ADMIN_EMAIL"] = "ops@example.com";
            s["ULTRAREPO_ADMIN_PASSWORD"] = "operator-pass-77";
        });
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true });

        var login = await client.PostAsJsonAsync("/api/auth/login", new { email = "ops@example.com", password = "operator-pass-77" });

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.True((bool)(await login.ReadJsonAsync())["isAdmin"]!);
        var grant = await client.PostAsJsonAsync("/api/admin/namespaces", new { handle = "ops", @namespace = "io.github.ops" });
        Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
    }
}
