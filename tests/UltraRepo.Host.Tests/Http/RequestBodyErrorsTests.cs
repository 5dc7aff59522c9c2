using System.Net;
using System.Text;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Http;

/// <summary>A JSON value of the wrong type is a 400 naming the field and the type it should have had.</summary>
public sealed class RequestBodyErrorsTests : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new();
    private TestUser _user = null!;

    public async Task InitializeAsync() => _user = await _app.CreateUserAsync("typist");

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Theory]
    [InlineData("PUT", "/api/consumer/budgets", """{"budgets":[{"amount":25,"currency":"USD"}]}""", "body.budgets[0].amount", "expected a string")]
    [InlineData("PUT", "/api/consumer/budgets", """{"budgets":[{"tokens":1.5}]}""", "body.budgets[0].tokens", "expected an integer")]
    [InlineData("PUT", "/api/consumer/budgets", """{"budgets":[{"tokens":5,"alertThresholds":"50"}]}""", "body.budgets[0].alertThresholds", "expected an array")]
    [InlineData("PUT", "/api/consumer/budgets", """{"budgets":[{"tokens":5,"alertThresholds":["fifty"]}]}""", "body.budgets[0].alertThresholds[0]", "expected an integer")]
    [InlineData("PUT", "/api/consumer/budgets", """{"budgets":{"tokens":5}}""", "body.budgets", "expected an array")]
    [InlineData("POST", "/api/auth/register", """{"email":1,"password":"long enough password","handle":"someone"}""", "body.email", "expected a string")]
    [InlineData("POST", "/api/keys", "", "body", "a JSON body is required")]
    [InlineData("POST", "/api/keys", "null", "body", "a JSON body is required")]
    [InlineData("POST", "/api/v1/events", """{"event":{"transaction_id":"t","external_subscription_id":"s","code":"mcp_tokens","properties":[1,2]}}""", "body.event.properties", "expected an object")]
    public async Task WrongJsonType_Returns400NamingTheFieldAndTheExpectedType(string method, string path, string body, string location, string message)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

        using var response = await _user.Api.SendAsync(request);
        var problem = await response.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Assert.Single(problem["errors"]!.AsArray());
        Assert.Equal(location, (string?)error!["location"]);
        Assert.Equal(message, (string?)error["message"]);
    }

    [Theory]
    [InlineData("DELETE", "/api/subscriptions/not-a-guid")]
    [InlineData("DELETE", "/api/keys/nope")]
    [InlineData("GET", "/api/invoices/nope")]
    [InlineData("POST", "/api/notifications/nope/read")]
    public async Task IdInThePathThatIsNotAGuid_Returns400NamingIt(string method, string path)
    {
        using var response = await _user.Api.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        var problem = await response.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Assert.Single(problem["errors"]!.AsArray());
        Assert.Equal("path.id", (string?)error!["location"]);
        Assert.Equal("expected a value of type Guid", (string?)error["message"]);
    }
}
