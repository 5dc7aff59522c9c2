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
                // A list in a query (ids.Contains(x)) goes to SQLite as one JSON parameter (json_each), as before EF Core
                // 10: its default of one parameter per element fails past SQLite's 32,766 variables (the reconciliation
                // of a month with 50,000 invoice lines did) and costs quadratic time below that, since
                // Microsoft.Data.Sqlite binds each parameter by name.
                .UseSqlite(options.SqliteConnectionString, sqlite => sqlite.UseParameterizedCollectionMode(ParameterTranslationMode.Parameter))
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
