using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace UltraRepo.Data;

/// <summary>
/// Per-connection SQLite settings for the embedded mode: WAL with synchronous=NORMAL (durable across a
/// process crash; the last commits may be lost on power loss, which the usage spool covers) and a busy
/// timeout so a reader never fails while the single writer commits.
/// </summary>
internal sealed class SqlitePragmas : DbConnectionInterceptor
{
    private const string Pragmas = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
