using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Infrastructure;

namespace UltraRepo.Host.Tests.Billing;

/// <summary>
/// Queries filter by id lists as large as a month's invoice lines (the reconciliation report: ~50,000 at 10,000
/// consumers × 5 listings). EF Core 10 would send one parameter per element, past SQLite's 32,766 variables.
/// </summary>
public sealed class LargeIdListTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task AFilterOverFortyThousandIds_RunsAndMatchesExactly(Provider provider)
    {
        await using var app = new MarketplaceApp(provider);
        await app.CreateUserAsync("ids-alice");
        await app.CreateUserAsync("ids-bob");
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var existing = await db.Users.Select(u => u.Id).ToListAsync();
        var ids = Enumerable.Range(0, 40_000).Select(_ => Guid.NewGuid()).Concat(existing.Take(2)).ToList();

        var found = await db.Users.Where(u => ids.Contains(u.Id)).Select(u => u.Id).ToListAsync();

        Assert.Equal(existing.Take(2).Order(), found.Order());
    }
}
