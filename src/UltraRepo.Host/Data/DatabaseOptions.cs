namespace UltraRepo.Data;

/// <summary>Which database the host runs on and whether it migrates by itself.</summary>
public sealed class DatabaseOptions
{
    /// <summary>PostgreSQL connection string (<c>ConnectionStrings:Postgres</c>); when set, the host runs on PostgreSQL.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>SQLite connection string for the embedded mode.</summary>
    public string SqliteConnectionString { get; set; } = "Data Source=./data/ultrarepo.db";

    /// <summary>
    /// Apply pending migrations at start. Always on for the embedded SQLite mode;
    /// PostgreSQL deployments migrate with the <c>migrate</c> command unless this is set.
    /// </summary>
    public bool MigrateOnStart { get; set; }

    public DatabaseProvider Provider => string.IsNullOrWhiteSpace(PostgresConnectionString) ? DatabaseProvider.Sqlite : DatabaseProvider.Postgres;
}
