using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using UltraRepo.Host.Tests.Infrastructure;
using static UltraRepo.Host.Tests.Infrastructure.Json;

namespace UltraRepo.Host.Tests.Registry;

public sealed class PricingTests : IAsyncLifetime
{
    private const string Name = "com.ultrarepo.alice/priced";
    private readonly MarketplaceApp _app = new();
    private TestUser _alice = null!;

    public async Task InitializeAsync()
    {
        _alice = await _app.CreateUserAsync("alice");
        (await _alice.Api.PostAsJsonAsync("/v0.1/publish", Server(Name, remotes: new[] { new { type = "streamable-http", url = "https://priced.example.com/mcp" } }))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private static object Graduated => new
    {
        model = "usage",
        currency = "USD",
        usage = new
        {
            chargeModel = "graduated",
            tiers = new object[]
            {
                new { upTo = 100000, pricePer1k = "0.002" },
                new { upTo = 1000000, pricePer1k = "0.0015" },
                new { upTo = (long?)null, pricePer1k = "0.001" },
            },
            monthlyTokenLimit = 5000000,
        },
    };

    [Fact]
    public async Task PutPricing_Owner_StoresAndShowsItInTheListing()
    {
        var put = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", Graduated);

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var pricing = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/api/servers/{Encode(Name)}/pricing");
        Assert.Equal("graduated", (string?)pricing!["pricing"]!["usage"]!["chargeModel"]);
        Assert.Equal("0.0015", (string?)pricing["pricing"]!["usage"]!["tiers"]![1]!["pricePer1k"]);
        Assert.Null(pricing["pricing"]!["usage"]!["tiers"]![2]!["upTo"]);
        var listing = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/v0.1/servers/{Encode(Name)}/versions/latest");
        Assert.Equal("usage", (string?)listing!["_meta"]!["com.ultrarepo/marketplace"]!["pricing"]!["model"]);
    }

    [Fact]
    public async Task PutPricing_OtherUser_Returns403AndLeavesPriceUnchanged()
    {
        var mallory = await _app.CreateUserAsync("mallory");

        var put = await mallory.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new { model = "license", currency = "USD", license = new { price = "0.01" } });

        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        var pricing = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/api/servers/{Encode(Name)}/pricing");
        Assert.Equal("free", (string?)pricing!["pricing"]!["model"]);
    }

    [Fact]
    public async Task PutPricing_InvalidTiers_Returns400NamingEachField()
    {
        var response = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new
        {
            model = "usage",
            usage = new
            {
                chargeModel = "graduated",
                tiers = new object[]
                {
                    new { upTo = 1000, pricePer1k = "-0.1" },
                    new { from = 2000, upTo = 5000, pricePer1k = "0.1" },
                    new { upTo = 9000, pricePer1k = "0.1" },
                },
            },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.ReadJsonAsync())["errors"]!.AsArray().Select(e => ((string?)e!["location"], (string?)e["message"])).ToList();
        Assert.Contains(errors, e => e.Item1 == "body.usage.tiers[0].pricePer1k" && e.Item2!.Contains("negative"));
        Assert.Contains(errors, e => e.Item1 == "body.usage.tiers[1].from" && e.Item2!.Contains("gap"));
        Assert.Contains(errors, e => e.Item1 == "body.usage.tiers[2].upTo" && e.Item2!.Contains("unbounded"));
    }

    [Fact]
    public async Task PutPricing_UnknownServer_Returns404()
    {
        var response = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode("com.ultrarepo.alice/none")}/pricing", Graduated);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task PriceChanges_AreVersionedByEffectiveTime()
    {
        (await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", Graduated)).EnsureSuccessStatusCode();
        var nextMonth = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
        var scheduled = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new
        {
            model = "usage",
            currency = "USD",
            usage = new { chargeModel = "standard", pricePer1k = "0.003" },
            effectiveFrom = nextMonth,
        });
        Assert.Equal(HttpStatusCode.OK, scheduled.StatusCode);

        var now = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/api/servers/{Encode(Name)}/pricing");
        Assert.Equal("graduated", (string?)now!["pricing"]!["usage"]!["chargeModel"]);
        Assert.Equal("standard", (string?)now["scheduled"]![0]!["pricing"]!["usage"]!["chargeModel"]);

        _app.Clock.SetUtcNow(nextMonth.AddMinutes(1));
        var later = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/api/servers/{Encode(Name)}/pricing");
        Assert.Equal("standard", (string?)later!["pricing"]!["usage"]!["chargeModel"]);

        var catalog = _app.Service<Microsoft.Extensions.DependencyInjection.IServiceScopeFactory>();
        using var scope = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.CreateScope(_app.Services);
        var prices = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<UltraRepo.Pricing.PricingCatalog>(scope.ServiceProvider);
        var atNovember = await prices.AtAsync(Name, new DateTime(2026, 11, 15, 0, 0, 0, DateTimeKind.Utc), CancellationToken.None);
        Assert.Equal(UltraRepo.Domain.Pricing.ChargeModel.Graduated, atNovember.Plan.Usage!.ChargeModel);
    }

    [Fact]
    public async Task PutPricing_EffectiveInThePast_Returns400()
    {
        var response = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new
        {
            model = "free",
            effectiveFrom = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body.effectiveFrom", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Fact]
    public async Task HybridPricing_NeedsLicenseAndUsage()
    {
        var missing = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new { model = "hybrid", currency = "EUR", license = new { price = "49.00" } });
        var complete = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new
        {
            model = "hybrid",
            currency = "EUR",
            license = new { price = "49" },
            usage = new { chargeModel = "package", packageSize = 50000, pricePerPackage = "0.05", freeTokensPerMonth = 100000, minimumMonthlySpend = "5" },
        });

        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("body.usage", (string?)(await missing.ReadJsonAsync())["errors"]![0]!["location"]);
        Assert.Equal(HttpStatusCode.OK, complete.StatusCode);
        var pricing = (await complete.ReadJsonAsync())["pricing"]!;
        Assert.Equal("49.00", (string?)pricing["license"]!["price"]);
        Assert.Equal("5.00", (string?)pricing["usage"]!["minimumMonthlySpend"]);
    }

    [Fact]
    public async Task PutPricing_NullTier_Returns400NamingTheTier()
    {
        var response = await _alice.Api.PutAsync($"/api/servers/{Encode(Name)}/pricing", new StringContent(
            """{"model":"usage","currency":"USD","usage":{"chargeModel":"graduated","tiers":[{"upTo":1000,"pricePer1k":"0.002"},null,{"upTo":null,"pricePer1k":"0.001"}]}}""",
            System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("body.usage.tiers[1]", (string?)(await response.ReadJsonAsync())["errors"]![0]!["location"]);
    }

    [Theory]
    [InlineData("usage", "pricePer1k", "79228162514264337593543950335", "body.usage.tiers[0].pricePer1k", "at most")]
    [InlineData("usage", "pricePer1k", "1000000.000000001", "body.usage.tiers[0].pricePer1k", "at most")]
    [InlineData("usage", "pricePer1k", "0.0000000001", "body.usage.tiers[0].pricePer1k", "decimal places")]
    [InlineData("package", "pricePerPackage", "79228162514264337593543950335", "body.usage.pricePerPackage", "at most")]
    [InlineData("usage", "minimumMonthlySpend", "1000000000.01", "body.usage.minimumMonthlySpend", "at most")]
    [InlineData("license", "price", "79228162514264337593543950335", "body.license.price", "at most")]
    public async Task PutPricing_AmountBeyondItsBounds_Returns400NamingTheFieldAndKeepsThePrice(string kind, string field, string amount, string location, string message)
    {
        object document = kind switch
        {
            "license" => new { model = "license", currency = "USD", license = new Dictionary<string, string> { [field] = amount } },
            "package" => new { model = "usage", currency = "USD", usage = new Dictionary<string, object> { ["chargeModel"] = "package", ["packageSize"] = 1000, [field] = amount } },
            _ when field == "pricePer1k" => new { model = "usage", currency = "USD", usage = new { chargeModel = "graduated", tiers = new object[] { new { upTo = (long?)null, pricePer1k = amount } } } },
            _ => new { model = "usage", currency = "USD", usage = new Dictionary<string, object> { ["pricePer1k"] = "0.002", [field] = amount } },
        };

        var response = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", document);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.ReadJsonAsync())["errors"]!.AsArray().Single()!;
        Assert.Equal(location, (string?)error["location"]);
        Assert.Contains(message, (string?)error["message"], StringComparison.Ordinal);
        var pricing = await _app.CreateClient().GetFromJsonAsync<JsonNode>($"/api/servers/{Encode(Name)}/pricing");
        Assert.Equal("free", (string?)pricing!["pricing"]!["model"]);
    }

    [Fact]
    public async Task PutPricing_AmountsAtTheirBounds_AreAccepted()
    {
        var response = await _alice.Api.PutAsJsonAsync($"/api/servers/{Encode(Name)}/pricing", new
        {
            model = "hybrid",
            currency = "USD",
            license = new { price = "1000000000.00" },
            usage = new
            {
                chargeModel = "graduated",
                tiers = new object[] { new { upTo = 1000, pricePer1k = "1000000" }, new { upTo = (long?)null, pricePer1k = "0.000000001" } },
                minimumMonthlySpend = "1000000000",
            },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0.000000001", (string?)(await response.ReadJsonAsync())["pricing"]!["usage"]!["tiers"]![1]!["pricePer1k"]);
    }
}
