using Microsoft.Data.Sqlite;
using UltraRepo.Metering.Storage;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>
/// The usage store binds values itself (<see cref="SqliteBatchStatement"/>); what it writes must be, byte for byte, the
/// text EF Core and the rest of the SQLite code write (<see cref="SqliteValues"/>), or rollup keys would split and
/// queries by id would miss rows.
/// </summary>
public sealed class SqliteBatchStatementTests
{
    [Fact]
    public void BoundValues_AreTheTextFormsEfCoreUses()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        Execute(connection, "CREATE TABLE t (n INTEGER, g, i, d, s, x)");
        var random = new Random(7);
        var rows = Enumerable.Range(0, 200).Select(n => (
            N: n,
            G: n % 10 == 0 ? (Guid?)null : new Guid(Enumerable.Range(0, 16).Select(_ => (byte)random.Next(256)).ToArray()),
            I: new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(random.NextInt64(TimeSpan.TicksPerDay * 800)).AddTicks(n % 3 == 0 ? -(n % 10_000_000) : 0),
            D: n switch { 0 => 0m, 1 => 1m, 2 => -0.5m, 3 => 79228162514264337593543950335m, 4 => 0.0000000000000000000000000001m, _ => random.Next() / 1_000_000m * (n % 2 == 0 ? 1 : -1) },
            S: n % 7 == 0 ? null : $"com.example/ünïcødé-✓-{n}")).ToList();

        using (var insert = new SqliteBatchStatement(connection, "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6)"))
        {
            foreach (var row in rows)
            {
                insert.Integer(1, row.N);
                insert.Guid(2, row.G);
                insert.Instant(3, row.I);
                insert.Decimal(4, row.D);
                insert.Text(5, row.S);
                insert.Null(6);
                Assert.Equal(1, insert.Execute());
            }
        }

        using var read = connection.CreateCommand();
        read.CommandText = "SELECT n, g, i, d, s, x, typeof(g), typeof(i), typeof(d) FROM t ORDER BY n";
        using var reader = read.ExecuteReader();
        foreach (var row in rows)
        {
            Assert.True(reader.Read());
            Assert.Equal(row.N, reader.GetInt64(0));
            Assert.Equal(SqliteValues.Guid(row.G), reader.GetValue(1));
            Assert.Equal(SqliteValues.Instant(row.I), reader.GetString(2));
            Assert.Equal(SqliteValues.Decimal(row.D), reader.GetString(3));
            Assert.Equal((object?)row.S ?? DBNull.Value, reader.GetValue(4));
            Assert.True(reader.IsDBNull(5));
            Assert.Equal(row.G is null ? "null" : "text", reader.GetString(6));
            Assert.Equal(["text", "text"], new[] { reader.GetString(7), reader.GetString(8) });
        }

        Assert.False(reader.Read());
    }

    [Fact]
    public void AFailingStep_ThrowsSqliteException_AndTheStatementStaysUsable()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        Execute(connection, "CREATE TABLE t (id TEXT PRIMARY KEY)");
        using var insert = new SqliteBatchStatement(connection, "INSERT INTO t VALUES (?1)");
        insert.Text(1, "a");
        Assert.Equal(1, insert.Execute());

        insert.Text(1, "a");
        var error = Assert.Throws<SqliteException>(() => insert.Execute());
        Assert.Equal(19, error.SqliteErrorCode); // SQLITE_CONSTRAINT

        insert.Text(1, "b");
        Assert.Equal(1, insert.Execute());
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
