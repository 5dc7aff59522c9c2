using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace UltraRepo.Data;

// Used only by `dotnet ef migrations add`; the connection strings are never opened.
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteMarketplaceDb>
{
    public SqliteMarketplaceDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteMarketplaceDb>().UseSqlite("Data Source=design.db").UseSnakeCaseNamingConvention().Options);
}

internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresMarketplaceDb>
{
    public PostgresMarketplaceDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresMarketplaceDb>().UseNpgsql("Host=localhost;Database=design").UseSnakeCaseNamingConvention().Options);
}
