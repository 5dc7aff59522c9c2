using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using UltraRepo.Data;

namespace UltraRepo.Metering.Storage;

/// <summary>
/// Scale-out store: each batch is loaded with binary <c>COPY</c> straight into the time-partitioned <c>usage_events</c>,
/// whose key (timestamp, id) rejects an event stored before. Only then (a batch shipped again after a crash) is the
/// attempt rolled back and the batch copied into a session-temporary staging table and moved with
/// <c>ON CONFLICT DO NOTHING</c>. The events actually inserted are summed in .NET into rollup deltas (hourly and daily
/// per consumer × listing, daily per listing, and the days of the month each consumer used each listing), added in
/// the same transaction by one statement over arrays, so re-shipping a batch changes nothing. Monthly partitions are
/// created before they are needed.
/// </summary>
public sealed class PostgresUsageStore(DatabaseOptions options) : IUsageStore, IDisposable
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(options.PostgresConnectionString!);
    private readonly ConcurrentDictionary<string, bool> _partitions = new();

    private const string Columns = "id, timestamp, period, consumer_id, key_id, subscription_id, server_name, server_version, method, target, json_rpc_id, session_id, input_tokens, output_tokens, total_tokens, latency_ms, outcome, http_status, cost, currency, tokenizer, source, transaction_id";

    /// <summary>
    /// Moves the staged batch into <c>usage_events</c>. Returns how many rows were new and, only when some were
    /// already there (a batch shipped again after a crash), the keys (id, timestamp) of the new ones.
    /// </summary>
    private static readonly string Move = $"""
        WITH inserted AS (
            INSERT INTO usage_events ({Columns}) SELECT {Columns} FROM usage_events_incoming ON CONFLICT DO NOTHING RETURNING id, timestamp
        ), counted AS (
            SELECT count(*) AS n FROM inserted
        )
        SELECT n, CASE WHEN n < $1 THEN (SELECT array_agg(id) FROM inserted) END, CASE WHEN n < $1 THEN (SELECT array_agg(timestamp) FROM inserted) END
        FROM counted
        """;

    private const string RollupColumns = "bucket_start, consumer_id, server_name, currency, input_tokens, output_tokens, total_tokens, billable_tokens, cost, requests, errors";

    private static string AddTo(string table, int first) => $"""
        INSERT INTO {table} AS r ({RollupColumns})
        SELECT {RollupColumns} FROM unnest(${first}::timestamptz[], ${first + 1}::uuid[], ${first + 2}::text[], ${first + 3}::text[], ${first + 4}::bigint[],
            ${first + 5}::bigint[], ${first + 6}::bigint[], ${first + 7}::bigint[], ${first + 8}::numeric[], ${first + 9}::bigint[], ${first + 10}::bigint[])
            WITH ORDINALITY AS d ({RollupColumns}, ord)
        ORDER BY ord
        ON CONFLICT (bucket_start, consumer_id, server_name, currency) DO UPDATE SET
            input_tokens = r.input_tokens + EXCLUDED.input_tokens, output_tokens = r.output_tokens + EXCLUDED.output_tokens,
            total_tokens = r.total_tokens + EXCLUDED.total_tokens, billable_tokens = r.billable_tokens + EXCLUDED.billable_tokens,
            cost = r.cost + EXCLUDED.cost, requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors
        """;

    /// <summary>
    /// Adds a batch's rollup deltas (<see cref="UsageRollupDeltas"/>, summed in .NET and passed as arrays) to the four
    /// rollups in one statement. Rows are upserted in the deltas' key order (<c>ORDER BY ord</c>).
    /// </summary>
    private static readonly string Rollups = $"""
        WITH hourly AS (
            {AddTo("usage_hourly", 1)}
        ), daily AS (
            {AddTo("usage_daily", 12)}
        ), listing_daily AS (
            INSERT INTO usage_listing_daily AS r (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors)
            SELECT server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors
            FROM unnest($23::text[], $24::timestamptz[], $25::text[], $26::bigint[], $27::bigint[], $28::numeric[], $29::bigint[], $30::bigint[])
                WITH ORDINALITY AS d (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors, ord)
            ORDER BY ord
            ON CONFLICT (server_name, bucket_start, currency) DO UPDATE SET
                total_tokens = r.total_tokens + EXCLUDED.total_tokens, billable_tokens = r.billable_tokens + EXCLUDED.billable_tokens,
                cost = r.cost + EXCLUDED.cost, requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors
        ), consumer_days AS (
            INSERT INTO usage_consumer_days AS r (server_name, month, consumer_id, days)
            SELECT server_name, month, consumer_id, days
            FROM unnest($31::text[], $32::timestamptz[], $33::uuid[], $34::integer[]) WITH ORDINALITY AS d (server_name, month, consumer_id, days, ord)
            ORDER BY ord
            ON CONFLICT (server_name, month, consumer_id) DO UPDATE SET days = r.days | EXCLUDED.days
            WHERE (r.days | EXCLUDED.days) <> r.days
        )
        SELECT 1
        """;

    /// <summary>
    /// Two batches at once use both the database's cores. Concurrent batches may update the same rollup rows;
    /// each statement upserts them in key order (ORDER BY above), so they wait for each other but never deadlock.
    /// </summary>
    public int ConcurrentWrites => 2;

    /// <summary>
    /// A backlog drains about 10 % faster in batches of 20,000 than of 5,000 (docs/benchmarks.md): fewer commits, and
    /// each hot index page is written once for many events. Two such batches in flight hold about 40 MB.
    /// </summary>
    public int MaxBatch => 20_000;

    public async Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await EnsurePartitionsAsync(events.Select(e => e.Timestamp), ct);
        await using var connection = await _source.OpenConnectionAsync(ct);
        try
        {
            // The usual case: every event is new, so the batch is copied straight into its partitions and the key
            // (timestamp, id) is checked as each row goes in.
            await using var transaction = await connection.BeginTransactionAsync(ct);
            await CopyAsync(connection, "usage_events", events, ct);
            await AddToRollupsAsync(connection, transaction, UsageRollupDeltas.Of(events), ct);
            await transaction.CommitAsync(ct);
            return events.Count;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Some of these events are stored already (the batch is shipped again after a crash between the commit and
            // the checkpoint, or holds an event twice): nothing of this attempt was kept, and the staged path skips them.
        }

        return await WriteSkippingStoredAsync(connection, events, ct);
    }

    private static async Task<int> WriteSkippingStoredAsync(NpgsqlConnection connection, IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var staging = new NpgsqlCommand(
            "CREATE TEMP TABLE IF NOT EXISTS usage_events_incoming (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS", connection, transaction))
        {
            await staging.ExecuteNonQueryAsync(ct);
        }

        await CopyAsync(connection, "usage_events_incoming", events, ct);
        var inserted = await MoveAsync(connection, transaction, events, ct);
        if (inserted.Count > 0)
        {
            await AddToRollupsAsync(connection, transaction, UsageRollupDeltas.Of(inserted), ct);
        }

        await transaction.CommitAsync(ct);
        return inserted.Count;
    }

    private static async Task CopyAsync(NpgsqlConnection connection, string table, IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await using var copy = await connection.BeginBinaryImportAsync($"COPY {table} ({Columns}) FROM STDIN (FORMAT BINARY)", ct);
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

    /// <returns>The events that were new.</returns>
    private static async Task<IReadOnlyList<UsageEvent>> MoveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await using var move = new NpgsqlCommand(Move, connection, transaction);
        move.Parameters.Add(new NpgsqlParameter<long> { TypedValue = events.Count });
        await using var reader = await move.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var count = reader.GetInt64(0);
        if (count == events.Count)
        {
            return events;
        }

        if (count == 0)
        {
            return [];
        }

        // Matched on the table's key (timestamp, id), each key once: two events with the same key in one batch (an ingest
        // retry racing its original) were stored once. PostgreSQL keeps microseconds; Npgsql truncates the rest.
        var keys = reader.GetFieldValue<Guid[]>(1).Zip(reader.GetFieldValue<DateTime[]>(2), (id, at) => (id, at.Ticks)).ToHashSet();
        return events.Where(e => keys.Remove((e.Id, e.Timestamp.Ticks - e.Timestamp.Ticks % 10))).ToList();
    }

    private static async Task AddToRollupsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, UsageRollupDeltas deltas, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(Rollups, connection, transaction);
        var p = command.Parameters;
        foreach (var rows in new[] { deltas.Hourly, deltas.Daily })
        {
            p.Add(Array(rows, r => r.Bucket));
            p.Add(Array(rows, r => r.ConsumerId));
            p.Add(Array(rows, r => r.ServerName));
            p.Add(Array(rows, r => r.Currency));
            AddTotals(p, rows.Select(r => r.Totals).ToList(), withInputOutput: true);
        }

        var listing = deltas.ListingDaily;
        p.Add(Array(listing, r => r.ServerName));
        p.Add(Array(listing, r => r.Day));
        p.Add(Array(listing, r => r.Currency));
        AddTotals(p, listing.Select(r => r.Totals).ToList(), withInputOutput: false);
        var days = deltas.ConsumerDays;
        p.Add(Array(days, r => r.ServerName));
        p.Add(Array(days, r => r.Month));
        p.Add(Array(days, r => r.ConsumerId));
        p.Add(Array(days, r => r.Days));
        await command.ExecuteNonQueryAsync(ct);
    }

    private static void AddTotals(NpgsqlParameterCollection p, List<UsageBuckets.Totals> totals, bool withInputOutput)
    {
        if (withInputOutput)
        {
            p.Add(Array(totals, t => t.InputTokens));
            p.Add(Array(totals, t => t.OutputTokens));
        }

        p.Add(Array(totals, t => t.TotalTokens));
        p.Add(Array(totals, t => t.BillableTokens));
        p.Add(Array(totals, t => t.Cost));
        p.Add(Array(totals, t => t.Requests));
        p.Add(Array(totals, t => t.Errors));
    }

    private static NpgsqlParameter<T[]> Array<TRow, T>(IReadOnlyList<TRow> rows, Func<TRow, T> value)
    {
        var values = new T[rows.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = value(rows[i]);
        }

        return new NpgsqlParameter<T[]> { TypedValue = values };
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
