using System.Net;
using System.Net.Http.Json;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing;

/// <summary>The admin billing endpoints take a month (<c>period=YYYY-MM</c>) with a year from 2000 to 9998.</summary>
public sealed class BillingPeriodTests
{
    [Theory]
    [InlineData("POST", "/api/admin/billing/close?period=9999-12")]
    [InlineData("GET", "/api/admin/billing/reconciliation?period=9999-12")]
    [InlineData("POST", "/api/admin/billing/close?period=1999-12")]
    [InlineData("GET", "/api/admin/billing/reconciliation?period=0001-01")]
    [InlineData("POST", "/api/admin/billing/payouts?period=9999-12")]
    public async Task CloseAndReconciliation_PeriodOutsideTheSupportedYears_Returns400NamingPeriod(string method, string url)
    {
        await using var app = new MarketplaceApp(configure: s => s["Billing:ScheduledClose"] = "false");
        var admin = await app.CreateAdminAsync();

        var response = await admin.Api.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("query.period", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task Reconciliation_LastSupportedMonth_Returns200()
    {
        await using var app = new MarketplaceApp(configure: s => s["Billing:ScheduledClose"] = "false");
        var admin = await app.CreateAdminAsync();

        Assert.Equal(HttpStatusCode.OK, (await admin.Api.GetAsync("/api/admin/billing/reconciliation?period=9998-12")).StatusCode);
    }
}

/// <summary>Payout runs and payout accounts refuse what would misbook or misdirect a publisher's money.</summary>
public sealed class PayoutInputTests : IAsyncLifetime
{
    private readonly MarketplaceApp _app = new(configure: s => s["Billing:ScheduledClose"] = "false");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Theory]
    [InlineData("9998-12")]
    [InlineData("2026-12")]
    [InlineData("2026-11")]
    public async Task PayoutRun_MonthNotEnded_Returns400NamingPeriodAndPaysNothing(string period)
    {
        var admin = await _app.CreateAdminAsync();

        var response = await admin.Api.PostAsync($"/api/admin/billing/payouts?period={period}", null);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync())["errors"]![0]!;
        Assert.Equal("query.period", (string?)error["location"]);
        Assert.Contains("has not ended", (string)error["message"]!);
    }

    [Fact]
    public async Task PayoutRun_EndedMonth_Returns200()
    {
        var admin = await _app.CreateAdminAsync();

        Assert.Equal(HttpStatusCode.OK, (await admin.Api.PostAsync("/api/admin/billing/payouts?period=2026-10", null)).StatusCode);
    }

    [Theory]
    [InlineData("acct_123\r\nX")]
    [InlineData("acct_é")]
    [InlineData("acct_123\n")]
    [InlineData("acct_")]
    [InlineData("acct_a-b")]
    [InlineData("ACCT_123")]
    public async Task PayoutAccount_NotAStripeAccountId_Returns400NamingTheField(string stripeAccountId)
    {
        var user = await _app.CreateUserAsync("alice");

        var response = await user.Api.PutAsJsonAsync("/api/publisher/payout-account", new { stripeAccountId });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.stripeAccountId", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task PayoutAccount_StripeAccountId_Returns204()
    {
        var user = await _app.CreateUserAsync("alice");

        Assert.Equal(HttpStatusCode.NoContent, (await user.Api.PutAsJsonAsync("/api/publisher/payout-account", new { stripeAccountId = "acct_1Nv0FGQ9RKHgCVdK" })).StatusCode);
    }
}
