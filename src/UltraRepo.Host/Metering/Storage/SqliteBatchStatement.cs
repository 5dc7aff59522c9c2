using System.Globalization;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace UltraRepo.Metering.Storage;

/// <summary>
/// One prepared statement run many times in a batch on an open <see cref="SqliteConnection"/>'s handle (inside its
/// transaction), bound by position with values formatted straight into UTF-8. Microsoft.Data.Sqlite looks every
/// parameter up by name and converts every value to a string on each execution; for the usage store's four
/// statements per event that was a third of the shipper's time (docs/benchmarks.md). Values are written in the
/// text forms of <see cref="SqliteValues"/>, which EF Core reads.
/// </summary>
internal sealed class SqliteBatchStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteBatchStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("the connection is not open");
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(_db, sql, out _statement), _db);
    }

    public void Null(int index) => Check(raw.sqlite3_bind_null(_statement, index));

    public void Integer(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    public void Text(int index, string? value)
    {
        if (value is null)
        {
            Null(index);
            return;
        }

        Check(raw.sqlite3_bind_text16(_statement, index, value.AsSpan()));
    }

    /// <summary>As <see cref="SqliteValues.Guid"/>: upper-case, with hyphens.</summary>
    public void Guid(int index, Guid? value)
    {
        if (value is not { } guid)
        {
            Null(index);
            return;
        }

        Span<byte> text = stackalloc byte[36];
        guid.TryFormat(text, out _, "D");
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is >= (byte)'a' and <= (byte)'f')
            {
                text[i] -= 'a' - 'A';
            }
        }

        Check(raw.sqlite3_bind_text(_statement, index, text));
    }

    /// <summary>As <see cref="SqliteValues.Instant"/>.</summary>
    public void Instant(int index, DateTime value)
    {
        Span<byte> text = stackalloc byte[32];
        value.ToUniversalTime().TryFormat(text, out var length, SqliteValues.InstantFormat, CultureInfo.InvariantCulture);
        Check(raw.sqlite3_bind_text(_statement, index, text[..length]));
    }

    /// <summary>As <see cref="SqliteValues.Decimal"/>.</summary>
    public void Decimal(int index, decimal value)
    {
        Span<byte> text = stackalloc byte[64];
        value.TryFormat(text, out var length, SqliteValues.DecimalFormat, CultureInfo.InvariantCulture);
        Check(raw.sqlite3_bind_text(_statement, index, text[..length]));
    }

    /// <summary>Runs the statement with the values bound and returns the rows it changed.</summary>
    public int Execute()
    {
        var rc = raw.sqlite3_step(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            raw.sqlite3_reset(_statement);
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        var changed = raw.sqlite3_changes(_db);
        Check(raw.sqlite3_reset(_statement));
        return changed;
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    public void Dispose() => _statement.Dispose();
}
