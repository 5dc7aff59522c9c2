using System.Net;
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
