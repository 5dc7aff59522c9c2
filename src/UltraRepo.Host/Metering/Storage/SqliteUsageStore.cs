using System.Globalization;
using Microsoft.Data.Sqlite;
using UltraRepo.Data;

namespace UltraRepo.Metering.Storage;

/// <summary>
/// Embedded store: one transaction per batch, a prepared <c>INSERT OR IGNORE</c> per event (the event id
/// makes re-shipping harmless), and the rollups (hourly and daily per consumer × listing, daily per listing,
/// consumer days per listing and month) updated with the deltas of the rows actually inserted
/// (<see cref="UsageRollupDeltas"/>), one prepared upsert per rollup row.
/// Costs stay exact decimals: rollup sums are added by .NET decimal code registered as a SQLite function,
/// never in SQLite's floating point.
/// </summary>
public sealed class SqliteUsageStore(DatabaseOptions options) : IUsageStore
{
    private const string InsertEvent = """
        INSERT OR IGNORE INTO usage_events (id, timestamp, period, consumer_id, key_id, subscription_id, server_name, server_version,
            method, target, json_rpc_id, session_id, input_tokens, output_tokens, total_tokens, latency_ms, outcome, http_status,
            cost, currency, tokenizer, source, transaction_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
        """;

    /// <summary>
    /// Under a backlog, 20,000 events per transaction ship about 1.5× faster than 5,000 (docs/benchmarks.md): the commit
    /// and its WAL checkpoint are paid once, and each hot index page is written once for many events. The price is
    /// that other writers (API writes, ingest keys) may wait for one such transaction — seconds, and only while a
    /// backlog is being drained; readers never wait (WAL).
    /// </summary>
    public int MaxBatch => 20_000;

    public async Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await using var connection = new SqliteConnection(options.SqliteConnectionString);
        await connection.OpenAsync(ct);
        await using (var pragma = connection.CreateCommand())
        {
            // synchronous stays FULL here (SQLite's default): the spool checkpoint that follows must never be ahead of
            // what is on disk. A 64 MB page cache keeps the indexes' hot pages between batches (connections are pooled).
            pragma.CommandText = "PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536;";
            await pragma.ExecuteNonQueryAsync(ct);
        }

        connection.CreateFunction<string?, string?, string>(DecimalAddFunction, DecimalAdd, isDeterministic: true);

        // The statements run on the connection's handle, inside this transaction (SqliteBatchStatement).
        // The rollup deltas are summed on another core while the events are inserted, on the assumption that every
        // event is new. They are summed once either way: if the thread pool has not started that work by the end of
        // the inserts (it is busy, e.g. serving API requests), this thread does it (the transaction holds SQLite's
        // write lock, so it never waits in the pool's queue). A batch shipped again after a crash (some events
        // already stored) sums only the new ones.
        var deltasOfAll = new Lazy<UsageRollupDeltas>(() => UsageRollupDeltas.Of(events), LazyThreadSafetyMode.ExecutionAndPublication);
        _ = Task.Run(() => deltasOfAll.Value, CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var inserted = InsertEvents(connection, events);
        var deltas = inserted.Count == events.Count ? deltasOfAll.Value : UsageRollupDeltas.Of(inserted);
        UpsertRollups(connection, "usage_hourly", deltas.Hourly);
        UpsertRollups(connection, "usage_daily", deltas.Daily);
        UpsertListingDaily(connection, deltas.ListingDaily);
        UpsertConsumerDays(connection, deltas.ConsumerDays);
        await transaction.CommitAsync(ct);
        return inserted.Count;
    }

    private static List<UsageEvent> InsertEvents(SqliteConnection connection, IReadOnlyList<UsageEvent> events)
    {
        using var insert = new SqliteBatchStatement(connection, InsertEvent);
        var inserted = new List<UsageEvent>(events.Count);
        foreach (var e in events)
        {
            insert.Guid(1, e.Id);
            insert.Instant(2, e.Timestamp);
            insert.Text(3, e.Period);
            insert.Guid(4, e.ConsumerId);
            insert.Guid(5, e.KeyId);
            insert.Guid(6, e.SubscriptionId);
            insert.Text(7, e.ServerName);
            insert.Text(8, e.ServerVersion);
            insert.Text(9, e.Method);
            insert.Text(10, e.Target);
            insert.Text(11, e.JsonRpcId);
            insert.Text(12, e.SessionId);
            insert.Integer(13, e.InputTokens);
            insert.Integer(14, e.OutputTokens);
            insert.Integer(15, e.TotalTokens);
            insert.Integer(16, e.LatencyMs);
            insert.Text(17, e.Outcome);
            insert.Integer(18, e.HttpStatus);
            insert.Decimal(19, e.Cost);
            insert.Text(20, e.Currency);
            insert.Text(21, e.Tokenizer);
            insert.Text(22, e.Source);
            insert.Text(23, e.TransactionId);
            if (insert.Execute() == 1)
            {
                inserted.Add(e);
            }
        }

        return inserted;
    }

    /// <summary>
    /// One prepared upsert per rollup table, executed per (bucket, consumer, listing, currency) row. Costs are
    /// decimal text; <see cref="DecimalAdd"/> (registered on the connection) adds them exactly inside SQLite.
    /// </summary>
    private static void UpsertRollups(SqliteConnection connection, string table, IReadOnlyList<UsageRollupDeltas.Row> rows)
    {
        using var upsert = new SqliteBatchStatement(connection, $"""
            INSERT INTO {table} (bucket_start, consumer_id, server_name, currency, input_tokens, output_tokens, total_tokens, billable_tokens, cost, requests, errors)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            ON CONFLICT (bucket_start, consumer_id, server_name, currency) DO UPDATE SET
                input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
                total_tokens = total_tokens + excluded.total_tokens, billable_tokens = billable_tokens + excluded.billable_tokens,
                cost = {DecimalAddFunction}(cost, excluded.cost), requests = requests + excluded.requests, errors = errors + excluded.errors
            """);
        foreach (var row in rows)
        {
            var delta = row.Totals;
            upsert.Instant(1, row.Bucket);
            upsert.Guid(2, row.ConsumerId);
            upsert.Text(3, row.ServerName);
            upsert.Text(4, row.Currency);
            upsert.Integer(5, delta.InputTokens);
            upsert.Integer(6, delta.OutputTokens);
            upsert.Integer(7, delta.TotalTokens);
            upsert.Integer(8, delta.BillableTokens);
            upsert.Decimal(9, delta.Cost);
            upsert.Integer(10, delta.Requests);
            upsert.Integer(11, delta.Errors);
            upsert.Execute();
        }
    }

    private static void UpsertListingDaily(SqliteConnection connection, IReadOnlyList<UsageRollupDeltas.ListingRow> rows)
    {
        using var upsert = new SqliteBatchStatement(connection, $"""
            INSERT INTO usage_listing_daily (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            ON CONFLICT (server_name, bucket_start, currency) DO UPDATE SET
                total_tokens = total_tokens + excluded.total_tokens, billable_tokens = billable_tokens + excluded.billable_tokens,
                cost = {DecimalAddFunction}(cost, excluded.cost), requests = requests + excluded.requests, errors = errors + excluded.errors
            """);
        foreach (var row in rows)
        {
            var delta = row.Totals;
            upsert.Text(1, row.ServerName);
            upsert.Instant(2, row.Day);
            upsert.Text(3, row.Currency);
            upsert.Integer(4, delta.TotalTokens);
            upsert.Integer(5, delta.BillableTokens);
            upsert.Decimal(6, delta.Cost);
            upsert.Integer(7, delta.Requests);
            upsert.Integer(8, delta.Errors);
            upsert.Execute();
        }
    }

    private static void UpsertConsumerDays(SqliteConnection connection, IReadOnlyList<UsageRollupDeltas.ConsumerDaysRow> rows)
    {
        using var upsert = new SqliteBatchStatement(connection, """
            INSERT INTO usage_consumer_days (server_name, month, consumer_id, days) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (server_name, month, consumer_id) DO UPDATE SET days = days | excluded.days
            WHERE (days | excluded.days) <> days
            """);
        foreach (var row in rows)
        {
            upsert.Text(1, row.ServerName);
            upsert.Instant(2, row.Month);
            upsert.Guid(3, row.ConsumerId);
            upsert.Integer(4, row.Days);
            upsert.Execute();
        }
    }

    private const string DecimalAddFunction = "ur_decimal_add";

    /// <summary>Exact sum of two decimal texts (as <see cref="SqliteValues.Decimal"/> writes them).</summary>
    private static string DecimalAdd(string? a, string? b) => SqliteValues.Decimal(
        (a is null ? 0m : decimal.Parse(a, NumberStyles.Number, CultureInfo.InvariantCulture))
        + (b is null ? 0m : decimal.Parse(b, NumberStyles.Number, CultureInfo.InvariantCulture)));
}

/// <summary>Values in the text forms EF Core's SQLite provider uses, so EF reads what raw SQL wrote.</summary>
internal static class SqliteValues
{
    public static object Guid(Guid? value) => value is { } g ? g.ToString().ToUpperInvariant() : DBNull.Value;

    public const string InstantFormat = "yyyy-MM-dd HH:mm:ss.FFFFFFF";

    public const string DecimalFormat = "0.0###########################";

    public static string Instant(DateTime value) => value.ToUniversalTime().ToString(InstantFormat, CultureInfo.InvariantCulture);

    public static string Decimal(decimal value) => value.ToString(DecimalFormat, CultureInfo.InvariantCulture);
}
