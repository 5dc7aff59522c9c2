using Microsoft.EntityFrameworkCore;

namespace UltraRepo.Data;

public static class DataExtensions
{
    public static IHostApplicationBuilder AddMarketplaceDatabase(this IHostApplicationBuilder builder)
    {
        var options = new DatabaseOptions();
        builder.Configuration.GetSection("Database").Bind(options);
        options.PostgresConnectionString ??= builder.Configuration.GetConnectionString("Postgres");
        var sqlite = builder.Configuration.GetConnectionString("Sqlite");
        if (!string.IsNullOrWhiteSpace(sqlite))
        {
            options.SqliteConnectionString = sqlite;
        }

        builder.Services.AddSingleton(options);
        if (options.Provider == DatabaseProvider.Postgres)
        {
            builder.Services.AddDbContextPool<MarketplaceDb, PostgresMarketplaceDb>(o => o
                .UseNpgsql(options.PostgresConnectionString)
                .UseSnakeCaseNamingConvention());
        }
        else
        {
            EnsureSqliteFolder(options.SqliteConnectionString);
            builder.Services.AddDbContextPool<MarketplaceDb, SqliteMarketplaceDb>(o => o
                .UseSqlite(options.SqliteConnectionString)
                .UseSnakeCaseNamingConvention()
                .AddInterceptors(new SqlitePragmas()));
        }

        builder.Services.AddHealthChecks().AddDbContextCheck<MarketplaceDb>("database");
        return builder;
    }

    private static void EnsureSqliteFolder(string connectionString)
    {
        var dataSource = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString).DataSource;
        var folder = Path.GetDirectoryName(Path.GetFullPath(dataSource));
        if (!string.IsNullOrEmpty(folder) && dataSource != ":memory:")
        {
            Directory.CreateDirectory(folder);
        }
    }
}
