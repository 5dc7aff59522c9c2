using Microsoft.Data.Sqlite;
using Npgsql;

namespace UltraRepo.UsageBench.Infrastructure;

public enum BenchProvider
{
    Postgres,
    Sqlite,
}

/// <summary>
/// A private, empty database for one run: <c>ultrarepo_bench_&lt;guid&gt;</c> on the PostgreSQL server named by
/// <c>ULTRAREPO_TEST_POSTGRES</c> (scripts/services.sh starts one), or a SQLite file in a temporary folder.
/// Dropped on dispose.
/// </summary>
public sealed class BenchDatabase : IAsyncDisposable
{
    public const string PostgresVariable = "ULTRAREPO_TEST_POSTGRES";

    private BenchDatabase(BenchProvider provider, string connectionString, string? sqliteFolder)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _sqliteFolder = sqliteFolder;
    }

    private readonly string? _sqliteFolder;

    public BenchProvider Provider { get; }

    public string ConnectionString { get; }

    public string Name => Provider == BenchProvider.Postgres ? "PostgreSQL" : "SQLite";

    public static string PostgresServer =>
        Environment.GetEnvironmentVariable(PostgresVariable)
        ?? throw new InvalidOperationException($"set {PostgresVariable} (eval \"$(scripts/services.sh)\" starts a server and exports it)");

    public static async Task<BenchDatabase> CreateAsync(BenchProvider provider)
    {
        if (provider == BenchProvider.Sqlite)
        {
            var folder = Directory.CreateTempSubdirectory("ultrarepo-bench-sqlite-").FullName;
            // As the host runs it (./data/ultrarepo.db): pooled connections.
            return new BenchDatabase(provider, $"Data Source={Path.Combine(folder, "bench.db")}", folder);
        }

        var name = "ultrarepo_bench_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(PostgresServer))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        // A larger pool than the suite's default 20: the benchmarks run many concurrent requests.
        var builder = new NpgsqlConnectionStringBuilder(PostgresServer) { Database = name, MaxPoolSize = 100 };
        return new BenchDatabase(provider, builder.ConnectionString, null);
    }

    /// <summary>The host setting that selects this database.</summary>
    public KeyValuePair<string, string?> Setting =>
        new(Provider == BenchProvider.Postgres ? "ConnectionStrings:Postgres" : "ConnectionStrings:Sqlite", ConnectionString);

    /// <summary>Server version and the settings that matter for write throughput (the test server trades durability for speed).</summary>
    public async Task<string> DescribeAsync()
    {
        if (Provider == BenchProvider.Sqlite)
        {
            await using var sqlite = new SqliteConnection(ConnectionString);
            await sqlite.OpenAsync();
            await using var version = sqlite.CreateCommand();
            version.CommandText = "SELECT sqlite_version()";
            return $"SQLite {await version.ExecuteScalarAsync()} (WAL, synchronous=NORMAL), file on local disk";
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        var values = new List<string>();
        foreach (var setting in new[] { "server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "work_mem" })
        {
            await using var show = new NpgsqlCommand($"SHOW {setting}", connection);
            values.Add($"{setting}={await show.ExecuteScalarAsync()}");
        }

        return "PostgreSQL " + string.Join(", ", values);
    }

    public async Task<long> ScalarAsync(string sql)
    {
        if (Provider == BenchProvider.Sqlite)
        {
            await using var sqlite = new SqliteConnection(ConnectionString);
            await sqlite.OpenAsync();
            await using var command = sqlite.CreateCommand();
            command.CommandText = sql;
            command.CommandTimeout = 600;
            return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var pg = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        var value = await pg.ExecuteScalarAsync();
        return value is null or DBNull ? 0 : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<string> TextAsync(string sql)
    {
        if (Provider == BenchProvider.Sqlite)
        {
            await using var sqlite = new SqliteConnection(ConnectionString);
            await sqlite.OpenAsync();
            await using var command = sqlite.CreateCommand();
            command.CommandText = sql;
            command.CommandTimeout = 600;
            return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var pg = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        return Convert.ToString(await pg.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    public async Task ExecuteAsync(string sql)
    {
        if (Provider == BenchProvider.Sqlite)
        {
            await using var sqlite = new SqliteConnection(ConnectionString);
            await sqlite.OpenAsync();
            await using var command = sqlite.CreateCommand();
            command.CommandText = sql;
            command.CommandTimeout = 3600;
            await command.ExecuteNonQueryAsync();
            return;
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var pg = new NpgsqlCommand(sql, connection) { CommandTimeout = 3600 };
        await pg.ExecuteNonQueryAsync();
    }

    /// <summary><c>--keep-database</c>: leave the database in place for inspection (psql, EXPLAIN ANALYZE) and say where it is.</summary>
    public static bool Keep { get; set; }

    public async ValueTask DisposeAsync()
    {
        if (Keep)
        {
            Console.Error.WriteLine($"kept {Name} database: {ConnectionString}");
            return;
        }

        if (Provider == BenchProvider.Sqlite)
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_sqliteFolder!, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: the folder is under the temp directory.
            }

            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(PostgresServer);
        await connection.OpenAsync();
        var name = new NpgsqlConnectionStringBuilder(ConnectionString).Database;
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
