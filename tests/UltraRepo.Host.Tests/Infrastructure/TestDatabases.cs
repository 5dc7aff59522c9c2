using Npgsql;

namespace UltraRepo.Host.Tests.Infrastructure;

public enum Provider
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Gives every test app its own empty database: a temporary SQLite file, or a fresh database on the
/// real PostgreSQL server named by <c>ULTRAREPO_TEST_POSTGRES</c> (scripts/test.sh starts one).
/// </summary>
public static class TestDatabases
{
    public const string PostgresVariable = "ULTRAREPO_TEST_POSTGRES";

    public static string PostgresServer =>
        Environment.GetEnvironmentVariable(PostgresVariable)
        ?? throw new InvalidOperationException($"PostgreSQL tests need {PostgresVariable} (e.g. Host=127.0.0.1;Port=55432;Username=postgres). Run ./scripts/test.sh, which starts a server.");

    public static string NewSqlite()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ultrarepo-tests");
        Directory.CreateDirectory(folder);
        return $"Data Source={Path.Combine(folder, Guid.NewGuid().ToString("N") + ".db")};Pooling=False";
    }

    public static string NewPostgres()
    {
        var name = "ultrarepo_test_" + Guid.NewGuid().ToString("N")[..16];
        using (var connection = new NpgsqlConnection(PostgresServer))
        {
            connection.Open();
            using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            create.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(PostgresServer) { Database = name }.ConnectionString;
    }

    public static void Drop(Provider provider, string connectionString)
    {
        if (provider == Provider.Sqlite)
        {
            var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString).DataSource;
            foreach (var path in new[] { file, file + "-wal", file + "-shm" })
            {
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    // Best effort: the temp folder is disposable.
                }
            }

            return;
        }

        var database = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        using var connection = new NpgsqlConnection(PostgresServer);
        connection.Open();
        using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
        drop.ExecuteNonQuery();
    }
}
