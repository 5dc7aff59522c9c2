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
        VALUES ($id, $timestamp, $period, $consumer, $key, $subscription, $server, $version, $method, $target, $rpcId, $session,
            $input, $output, $total, $latency, $outcome, $status, $cost, $currency, $tokenizer, $source, $transaction)
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

        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
        var inserted = await InsertEventsAsync(connection, transaction, events, ct);
        var deltas = UsageRollupDeltas.Of(inserted);
        await UpsertRollupsAsync(connection, transaction, "usage_hourly", deltas.Hourly, ct);
        await UpsertRollupsAsync(connection, transaction, "usage_daily", deltas.Daily, ct);
        await UpsertListingDailyAsync(connection, transaction, deltas.ListingDaily, ct);
        await UpsertConsumerDaysAsync(connection, transaction, deltas.ConsumerDays, ct);
        await transaction.CommitAsync(ct);
        return inserted.Count;
    }

    private static async Task<List<UsageEvent>> InsertEventsAsync(SqliteConnection connection, SqliteTransaction transaction, IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = InsertEvent;
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "id", "timestamp", "period", "consumer", "key", "subscription", "server", "version", "method", "target", "rpcId", "session", "input", "output", "total", "latency", "outcome", "status", "cost", "currency", "tokenizer", "source", "transaction" })
        {
            p[name] = command.Parameters.Add("$" + name, SqliteType.Text);
        }

        await command.PrepareAsync(ct);
        var inserted = new List<UsageEvent>(events.Count);
        foreach (var e in events)
        {
            p["id"].Value = SqliteValues.Guid(e.Id);
            p["timestamp"].Value = SqliteValues.Instant(e.Timestamp);
            p["period"].Value = e.Period;
            p["consumer"].Value = SqliteValues.Guid(e.ConsumerId);
            p["key"].Value = SqliteValues.Guid(e.KeyId);
            p["subscription"].Value = SqliteValues.Guid(e.SubscriptionId);
            p["server"].Value = e.ServerName;
            p["version"].Value = (object?)e.ServerVersion ?? DBNull.Value;
            p["method"].Value = (object?)e.Method ?? DBNull.Value;
            p["target"].Value = (object?)e.Target ?? DBNull.Value;
            p["rpcId"].Value = (object?)e.JsonRpcId ?? DBNull.Value;
            p["session"].Value = (object?)e.SessionId ?? DBNull.Value;
            p["input"].Value = e.InputTokens;
            p["output"].Value = e.OutputTokens;
            p["total"].Value = e.TotalTokens;
            p["latency"].Value = e.LatencyMs;
            p["outcome"].Value = e.Outcome;
            p["status"].Value = e.HttpStatus;
            p["cost"].Value = SqliteValues.Decimal(e.Cost);
            p["currency"].Value = e.Currency;
            p["tokenizer"].Value = (object?)e.Tokenizer ?? DBNull.Value;
            p["source"].Value = e.Source;
            p["transaction"].Value = (object?)e.TransactionId ?? DBNull.Value;
            if (await command.ExecuteNonQueryAsync(ct) == 1)
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
    private static async Task UpsertRollupsAsync(SqliteConnection connection, SqliteTransaction transaction, string table, IReadOnlyList<UsageRollupDeltas.Row> rows, CancellationToken ct)
    {
        await using var upsert = connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = $"""
            INSERT INTO {table} (bucket_start, consumer_id, server_name, currency, input_tokens, output_tokens, total_tokens, billable_tokens, cost, requests, errors)
            VALUES ($b, $c, $s, $cur, $in, $out, $total, $billable, $cost, $requests, $errors)
            ON CONFLICT (bucket_start, consumer_id, server_name, currency) DO UPDATE SET
                input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
                total_tokens = total_tokens + excluded.total_tokens, billable_tokens = billable_tokens + excluded.billable_tokens,
                cost = {DecimalAddFunction}(cost, excluded.cost), requests = requests + excluded.requests, errors = errors + excluded.errors
            """;
        var b = upsert.Parameters.Add("$b", SqliteType.Text);
        var c = upsert.Parameters.Add("$c", SqliteType.Text);
        var server = upsert.Parameters.Add("$s", SqliteType.Text);
        var currency = upsert.Parameters.Add("$cur", SqliteType.Text);
        var input = upsert.Parameters.Add("$in", SqliteType.Integer);
        var output = upsert.Parameters.Add("$out", SqliteType.Integer);
        var total = upsert.Parameters.Add("$total", SqliteType.Integer);
        var billable = upsert.Parameters.Add("$billable", SqliteType.Integer);
        var cost = upsert.Parameters.Add("$cost", SqliteType.Text);
        var requests = upsert.Parameters.Add("$requests", SqliteType.Integer);
        var errors = upsert.Parameters.Add("$errors", SqliteType.Integer);
        await upsert.PrepareAsync(ct);
        foreach (var row in rows)
        {
            var delta = row.Totals;
            b.Value = SqliteValues.Instant(row.Bucket);
            c.Value = SqliteValues.Guid(row.ConsumerId);
            server.Value = row.ServerName;
            currency.Value = row.Currency;
            input.Value = delta.InputTokens;
            output.Value = delta.OutputTokens;
            total.Value = delta.TotalTokens;
            billable.Value = delta.BillableTokens;
            cost.Value = SqliteValues.Decimal(delta.Cost);
            requests.Value = delta.Requests;
            errors.Value = delta.Errors;
            await upsert.ExecuteNonQueryAsync(ct);
        }
    }

    private static async Task UpsertListingDailyAsync(SqliteConnection connection, SqliteTransaction transaction, IReadOnlyList<UsageRollupDeltas.ListingRow> rows, CancellationToken ct)
    {
        await using var upsert = connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = $"""
            INSERT INTO usage_listing_daily (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors)
            VALUES ($s, $b, $cur, $total, $billable, $cost, $requests, $errors)
            ON CONFLICT (server_name, bucket_start, currency) DO UPDATE SET
                total_tokens = total_tokens + excluded.total_tokens, billable_tokens = billable_tokens + excluded.billable_tokens,
                cost = {DecimalAddFunction}(cost, excluded.cost), requests = requests + excluded.requests, errors = errors + excluded.errors
            """;
        var server = upsert.Parameters.Add("$s", SqliteType.Text);
        var b = upsert.Parameters.Add("$b", SqliteType.Text);
        var currency = upsert.Parameters.Add("$cur", SqliteType.Text);
        var total = upsert.Parameters.Add("$total", SqliteType.Integer);
        var billable = upsert.Parameters.Add("$billable", SqliteType.Integer);
        var cost = upsert.Parameters.Add("$cost", SqliteType.Text);
        var requests = upsert.Parameters.Add("$requests", SqliteType.Integer);
        var errors = upsert.Parameters.Add("$errors", SqliteType.Integer);
        await upsert.PrepareAsync(ct);
        foreach (var row in rows)
        {
            var delta = row.Totals;
            server.Value = row.ServerName;
            b.Value = SqliteValues.Instant(row.Day);
            currency.Value = row.Currency;
            total.Value = delta.TotalTokens;
            billable.Value = delta.BillableTokens;
            cost.Value = SqliteValues.Decimal(delta.Cost);
            requests.Value = delta.Requests;
            errors.Value = delta.Errors;
            await upsert.ExecuteNonQueryAsync(ct);
        }
    }

    private static async Task UpsertConsumerDaysAsync(SqliteConnection connection, SqliteTransaction transaction, IReadOnlyList<UsageRollupDeltas.ConsumerDaysRow> rows, CancellationToken ct)
    {
        await using var upsert = connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = """
            INSERT INTO usage_consumer_days (server_name, month, consumer_id, days) VALUES ($s, $m, $c, $days)
            ON CONFLICT (server_name, month, consumer_id) DO UPDATE SET days = days | excluded.days
            WHERE (days | excluded.days) <> days
            """;
        var server = upsert.Parameters.Add("$s", SqliteType.Text);
        var month = upsert.Parameters.Add("$m", SqliteType.Text);
        var consumer = upsert.Parameters.Add("$c", SqliteType.Text);
        var days = upsert.Parameters.Add("$days", SqliteType.Integer);
        await upsert.PrepareAsync(ct);
        foreach (var row in rows)
        {
            server.Value = row.ServerName;
            month.Value = SqliteValues.Instant(row.Month);
            consumer.Value = SqliteValues.Guid(row.ConsumerId);
            days.Value = row.Days;
            await upsert.ExecuteNonQueryAsync(ct);
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

    public static string Instant(DateTime value) => value.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);

    public static string Decimal(decimal value) => value.ToString("0.0###########################", CultureInfo.InvariantCulture);
}
