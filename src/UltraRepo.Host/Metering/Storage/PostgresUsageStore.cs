using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using UltraRepo.Data;

namespace UltraRepo.Metering.Storage;

/// <summary>
/// Scale-out store: each batch is loaded with binary <c>COPY</c> into a session-temporary staging table,
/// then moved into the time-partitioned <c>usage_events</c> with <c>ON CONFLICT DO NOTHING</c>; the rows
/// actually inserted feed the rollups (hourly and daily per consumer × listing, daily per listing, and the
/// days of the month each consumer used each listing) in the same statement, so re-shipping a batch
/// changes nothing. Monthly partitions are created before they are needed.
/// </summary>
public sealed class PostgresUsageStore(DatabaseOptions options) : IUsageStore, IDisposable
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(options.PostgresConnectionString!);
    private readonly ConcurrentDictionary<string, bool> _partitions = new();

    private const string Columns = "id, timestamp, period, consumer_id, key_id, subscription_id, server_name, server_version, method, target, json_rpc_id, session_id, input_tokens, output_tokens, total_tokens, latency_ms, outcome, http_status, cost, currency, tokenizer, source, transaction_id";

    private static string Rollup(string table, string unit) => $"""
        INSERT INTO {table} AS r (bucket_start, consumer_id, server_name, currency, input_tokens, output_tokens, total_tokens, billable_tokens, cost, requests, errors)
        SELECT date_trunc('{unit}', timestamp, 'UTC'), consumer_id, server_name, currency, sum(input_tokens), sum(output_tokens), sum(total_tokens),
               sum(CASE WHEN outcome IN ('ok', 'rpc_error') THEN total_tokens ELSE 0 END), sum(cost), count(*), count(*) FILTER (WHERE outcome <> 'ok')
        FROM inserted GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (bucket_start, consumer_id, server_name, currency) DO UPDATE SET
            input_tokens = r.input_tokens + EXCLUDED.input_tokens, output_tokens = r.output_tokens + EXCLUDED.output_tokens,
            total_tokens = r.total_tokens + EXCLUDED.total_tokens, billable_tokens = r.billable_tokens + EXCLUDED.billable_tokens,
            cost = r.cost + EXCLUDED.cost, requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors
        """;

    private static readonly string Move = $"""
        WITH inserted AS (
            INSERT INTO usage_events ({Columns}) SELECT {Columns} FROM usage_events_incoming ON CONFLICT DO NOTHING
            RETURNING timestamp, consumer_id, server_name, currency, input_tokens, output_tokens, total_tokens, outcome, cost
        ), hourly AS (
            {Rollup("usage_hourly", "hour")}
            RETURNING 1
        ), daily AS (
            {Rollup("usage_daily", "day")}
            RETURNING 1
        ), listing_daily AS (
            INSERT INTO usage_listing_daily AS r (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors)
            SELECT server_name, date_trunc('day', timestamp, 'UTC'), currency, sum(total_tokens),
                   sum(CASE WHEN outcome IN ('ok', 'rpc_error') THEN total_tokens ELSE 0 END), sum(cost), count(*), count(*) FILTER (WHERE outcome <> 'ok')
            FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (server_name, bucket_start, currency) DO UPDATE SET
                total_tokens = r.total_tokens + EXCLUDED.total_tokens, billable_tokens = r.billable_tokens + EXCLUDED.billable_tokens,
                cost = r.cost + EXCLUDED.cost, requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors
            RETURNING 1
        ), consumer_days AS (
            INSERT INTO usage_consumer_days AS r (server_name, month, consumer_id, days)
            SELECT server_name, date_trunc('month', timestamp, 'UTC'), consumer_id,
                   bit_or(1 << (extract(day FROM timestamp AT TIME ZONE 'UTC')::int - 1))
            FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (server_name, month, consumer_id) DO UPDATE SET days = r.days | EXCLUDED.days
            WHERE (r.days | EXCLUDED.days) <> r.days
            RETURNING 1
        )
        SELECT count(*) FROM inserted
        """;

    /// <summary>
    /// Two batches at once use both the database's cores. Concurrent batches may update the same rollup rows;
    /// each statement upserts them in key order (ORDER BY above), so they wait for each other but never deadlock.
    /// </summary>
    public int ConcurrentWrites => 2;

    public async Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await EnsurePartitionsAsync(events.Select(e => e.Timestamp), ct);
        await using var connection = await _source.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var staging = new NpgsqlCommand(
            "CREATE TEMP TABLE IF NOT EXISTS usage_events_incoming (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS", connection, transaction))
        {
            await staging.ExecuteNonQueryAsync(ct);
        }

        await using (var copy = await connection.BeginBinaryImportAsync($"COPY usage_events_incoming ({Columns}) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var e in events)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(e.Id, NpgsqlDbType.Uuid, ct);
                await copy.WriteAsync(e.Timestamp, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(e.Period, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(e.ConsumerId, NpgsqlDbType.Uuid, ct);
                await WriteNullableAsync(copy, e.KeyId, NpgsqlDbType.Uuid, ct);
                await WriteNullableAsync(copy, e.SubscriptionId, NpgsqlDbType.Uuid, ct);
                await copy.WriteAsync(e.ServerName, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.ServerVersion, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.Method, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.Target, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.JsonRpcId, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.SessionId, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(e.InputTokens, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(e.OutputTokens, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(e.TotalTokens, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(e.LatencyMs, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(e.Outcome, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(e.HttpStatus, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(e.Cost, NpgsqlDbType.Numeric, ct);
                await copy.WriteAsync(e.Currency, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.Tokenizer, NpgsqlDbType.Varchar, ct);
                await copy.WriteAsync(e.Source, NpgsqlDbType.Varchar, ct);
                await WriteNullableAsync(copy, e.TransactionId, NpgsqlDbType.Varchar, ct);
            }

            await copy.CompleteAsync(ct);
        }

        long inserted;
        await using (var move = new NpgsqlCommand(Move, connection, transaction))
        {
            inserted = (long)(await move.ExecuteScalarAsync(ct))!;
        }

        await transaction.CommitAsync(ct);
        return (int)inserted;
    }

    /// <summary>Creates the monthly partitions these instants fall in, once per node (maintenance asks for the coming months).</summary>
    public async Task EnsurePartitionsAsync(IEnumerable<DateTime> instants, CancellationToken ct)
    {
        var months = instants.Select(t => new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc)).Distinct().ToList();
        foreach (var month in months.Where(m => !_partitions.ContainsKey(Name(m))))
        {
            await using var connection = await _source.OpenConnectionAsync(ct);
            var sql = string.Create(CultureInfo.InvariantCulture,
                $"CREATE TABLE IF NOT EXISTS {Name(month)} PARTITION OF usage_events FOR VALUES FROM ('{month:yyyy-MM-dd} 00:00:00+00') TO ('{month.AddMonths(1):yyyy-MM-dd} 00:00:00+00')");
            try
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DuplicateTable or PostgresErrorCodes.UniqueViolation)
            {
                // Another node created it at the same moment.
            }

            _partitions[Name(month)] = true;
        }
    }

    public static string Name(DateTime month) => string.Create(CultureInfo.InvariantCulture, $"usage_events_y{month:yyyy}m{month:MM}");

    private static Task WriteNullableAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type, CancellationToken ct) where T : class =>
        value is null ? copy.WriteNullAsync(ct) : copy.WriteAsync(value, type, ct);

    private static Task WriteNullableAsync(NpgsqlBinaryImporter copy, Guid? value, NpgsqlDbType type, CancellationToken ct) =>
        value is { } v ? copy.WriteAsync(v, type, ct) : copy.WriteNullAsync(ct);

    public void Dispose() => _source.Dispose();
}
