using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Budgets;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Pricing;
using UltraRepo.Subscriptions;

namespace UltraRepo.Metering.Ingest;

/// <summary>One event in Lago's shape (<c>POST /api/v1/events</c>).</summary>
public sealed record LagoEvent
{
    public string? TransactionId { get; init; }
    public string? ExternalSubscriptionId { get; init; }
    public string? ExternalCustomerId { get; init; }
    public string? Code { get; init; }
    public JsonElement? Timestamp { get; init; }
    public Dictionary<string, JsonElement>? Properties { get; init; }
}

public sealed record IngestError(string Code, string Message, string Field);

/// <summary>What happened to one event: accepted (new), duplicate (an earlier identical transaction), or rejected.</summary>
public sealed record IngestResult(string Status, LagoEvent Event, Guid? EventId, DateTime? Timestamp, long InputTokens, long OutputTokens, decimal? Cost, string? Currency, IngestError? Error);

/// <summary>
/// Usage reported by publishers whose servers run outside the gateway, in Lago's event shape. Each event
/// is checked on its own (a bad or repeated event never rejects the others), idempotent by
/// (publisher, transaction_id), allowed only for subscriptions to the caller's own listings, rated at the
/// marginal price of the subscription's period exactly like gateway traffic, and recorded through the
/// same durable spool. An event's id is derived from (publisher, transaction_id), so even a retry racing
/// its original is stored once.
/// </summary>
public sealed class IngestUsage(MarketplaceDb db, PricingCatalog pricing, IUsageCounters counters, BudgetCache budgets, IUsageSink sink, TimeProvider clock)
{
    public const string MetricCode = "mcp_tokens";
    public const int MaxBatch = 1000;

    /// <summary>
    /// The most tokens one event may report (input and output together): far above any single model
    /// exchange, and small enough that a month's sum of events stays within Int64 and its cost within
    /// decimal at any accepted price. Larger aggregates are sent as several events.
    /// </summary>
    public const long MaxTokensPerEvent = 1_000_000_000;

    public async Task<IReadOnlyList<IngestResult>> IngestAsync(Guid publisherId, IReadOnlyList<LagoEvent> events, string fieldPrefix, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        string At(int i) => fieldPrefix == "event" ? "event" : $"{fieldPrefix}[{i}]";
        var results = new IngestResult?[events.Count];
        var parsed = new List<(int Index, LagoEvent Event, Guid SubscriptionId, DateTime Timestamp, long Input, long Output)>();
        for (var i = 0; i < events.Count; i++)
        {
            var at = At(i);
            if (events[i] is null)
            {
                results[i] = Rejected(new LagoEvent(), new IngestError("value_is_mandatory", "each event must be an object {transaction_id, external_subscription_id, code, timestamp, properties}", at));
                continue;
            }

            var (error, subscriptionId, timestamp, input, output) = Validate(events[i], at, now);
            if (error is not null)
            {
                results[i] = Rejected(events[i], error);
            }
            else
            {
                parsed.Add((i, events[i], subscriptionId, timestamp, input, output));
            }
        }

        // Repeated transaction ids inside the batch: the first one counts.
        foreach (var repeat in parsed.GroupBy(p => p.Event.TransactionId).SelectMany(g => g.Skip(1)).ToList())
        {
            results[repeat.Index] = Rejected(repeat.Event, new IngestError("duplicate_in_batch", "this transaction_id appears earlier in the same batch", At(repeat.Index) + ".transaction_id"));
            parsed.Remove(repeat);
        }

        var transactionIds = parsed.Select(p => p.Event.TransactionId!).ToList();
        var known = await db.IngestKeys.AsNoTracking()
            .Where(k => k.PublisherId == publisherId && transactionIds.Contains(k.TransactionId))
            .ToDictionaryAsync(k => k.TransactionId, ct);
        var subscriptionIds = parsed.Select(p => p.SubscriptionId).Distinct().ToList();
        var subscriptions = await db.Subscriptions.AsNoTracking()
            .Where(s => subscriptionIds.Contains(s.Id))
            .Join(db.Listings, s => s.ServerName, l => l.ServerName, (s, l) => new { Subscription = s, l.OwnerId })
            .ToDictionaryAsync(x => x.Subscription.Id, ct);

        var accepted = new List<(int Index, LagoEvent Event, Subscription Subscription, DateTime Timestamp, long Input, long Output)>();
        foreach (var p in parsed)
        {
            var at = At(p.Index);
            if (known.TryGetValue(p.Event.TransactionId!, out var key))
            {
                results[p.Index] = new IngestResult("duplicate", p.Event, key.EventId, key.EventTimestamp, p.Input, p.Output, null, null, null);
            }
            else if (!subscriptions.TryGetValue(p.SubscriptionId, out var found) || found.OwnerId != publisherId)
            {
                // Another publisher's subscription is indistinguishable from an unknown one.
                results[p.Index] = Rejected(p.Event, new IngestError("subscription_not_found",
                    "no subscription with this id exists for one of your listings; events are never accepted for unknown subscriptions", at + ".external_subscription_id"));
            }
            else if (found.Subscription.CreatedAt > p.Timestamp.AddMinutes(5) || (found.Subscription.CancelledAt is { } cancelled && p.Timestamp > cancelled))
            {
                results[p.Index] = Rejected(p.Event, new IngestError("subscription_not_active",
                    "the subscription was not active at the event's timestamp", at + ".timestamp"));
            }
            else
            {
                accepted.Add((p.Index, p.Event, found.Subscription, p.Timestamp, p.Input, p.Output));
            }
        }

        // The price snapshots of every (subscription, period) in the batch, in one query; each distinct price list parsed once.
        var groups = accepted.GroupBy(a => (a.Subscription.Id, Period: Entitlements.PeriodOf(a.Timestamp))).ToList();
        var groupSubscriptions = groups.Select(g => g.Key.Id).Distinct().ToList();
        var groupPeriods = groups.Select(g => g.Key.Period).Distinct().ToList();
        var snapshots = groups.Count == 0 ? [] : await db.SubscriptionPeriods.AsNoTracking()
            .Where(p => groupSubscriptions.Contains(p.SubscriptionId) && groupPeriods.Contains(p.Period))
            .ToDictionaryAsync(p => (p.SubscriptionId, p.Period), ct);
        var plans = new Dictionary<string, PricingPlan>(StringComparer.Ordinal);
        var keys = new List<IngestKey>();
        var recorded = new List<UsageEvent>(accepted.Count);
        var settled = new List<(Reservation Group, long Tokens, decimal Cost)>();
        try
        {
            foreach (var group in groups)
            {
                var first = group.First();
                var plan = snapshots.TryGetValue(group.Key, out var snapshot)
                    ? plans.TryGetValue(snapshot.Pricing, out var parsedPlan) ? parsedPlan : plans[snapshot.Pricing] = Entitlements.PlanOf(snapshot)
                    // The consumer's first usage in this period: snapshot the price in force now.
                    : await Entitlements.PeriodPlanAsync(db, first.Subscription.Id, group.Key.Period, await pricing.AtAsync(first.Subscription.ServerName, first.Timestamp, ct), now, ct);
                var ordered = group.OrderBy(a => a.Timestamp).ThenBy(a => a.Index).ToList();
                var consumerBudgets = await budgets.ForConsumerAsync(first.Subscription.ConsumerId, ct);
                var none = Reservation.None(first.Subscription.ConsumerId, first.Subscription.ServerName, group.Key.Period, plan.Currency);
                IReadOnlyList<Settlement> settlements;
                try
                {
                    settlements = await counters.SettleManyAsync(none, ordered.Select(a => a.Input + a.Output).ToList(),
                        (before, n) => plan.Usage is null ? 0m : UsageRating.Marginal(plan.Usage, before, n),
                        consumerBudgets, ct);
                }
                catch (OverflowException)
                {
                    // A price list stored before amounts were bounded can rate beyond decimal; the counters settle
                    // a group all or nothing, so these events are simply not taken.
                    foreach (var a in ordered)
                    {
                        results[a.Index] = Rejected(a.Event, new IngestError("rating_failed",
                            "the listing's price list cannot rate this usage (the amount is out of range); its publisher must correct the pricing", At(a.Index)));
                    }

                    continue;
                }

                settled.Add((none, ordered.Sum(a => a.Input + a.Output), settlements.Sum(x => x.Cost)));
                for (var i = 0; i < ordered.Count; i++)
                {
                    var a = ordered[i];
                    var id = EventId(publisherId, a.Event.TransactionId!);
                    recorded.Add(new UsageEvent
                    {
                        Id = id,
                        Timestamp = a.Timestamp,
                        Period = group.Key.Period,
                        ConsumerId = a.Subscription.ConsumerId,
                        SubscriptionId = a.Subscription.Id,
                        ServerName = a.Subscription.ServerName,
                        Method = "ingest",
                        InputTokens = a.Input,
                        OutputTokens = a.Output,
                        TotalTokens = a.Input + a.Output,
                        Outcome = UsageOutcome.Ok,
                        HttpStatus = 200,
                        Cost = settlements[i].Cost,
                        Currency = plan.Currency,
                        Source = UsageSource.Ingest,
                        TransactionId = a.Event.TransactionId,
                    });
                    keys.Add(new IngestKey { PublisherId = publisherId, TransactionId = a.Event.TransactionId!, EventId = id, EventTimestamp = a.Timestamp, CreatedAt = now });
                    results[a.Index] = new IngestResult("accepted", a.Event, id, a.Timestamp, a.Input, a.Output, settlements[i].Cost, plan.Currency, null);
                }
            }

            // Durable (in the spool, one write) before the keys that make a retry a duplicate, and before the answer.
            await sink.RecordManyAsync(recorded, ct);
        }
        catch
        {
            // Nothing was stored: take back what the counters were told, so they never run ahead of the
            // recorded usage (a retry of the batch is then rated from the same position).
            foreach (var (group, tokens, cost) in settled)
            {
                await counters.SettleAsync(group, -tokens, (_, _) => -cost, [], CancellationToken.None);
            }

            throw;
        }

        await RememberAsync(keys, ct);
        return results.Select(r => r!).ToList();
    }

    /// <summary>The stable id of a publisher's transaction: a name-based UUID (version 8) over SHA-256.</summary>
    public static Guid EventId(Guid publisherId, string transactionId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"ultrarepo:ingest:{publisherId:N}:{transactionId}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    private async Task RememberAsync(List<IngestKey> keys, CancellationToken ct)
    {
        if (keys.Count == 0)
        {
            return;
        }

        if (db.Provider == DatabaseProvider.Sqlite)
        {
            await RememberOnSqliteAsync(keys, ct);
            return;
        }

        // INSERT … ON CONFLICT DO NOTHING, in chunks under the parameter limit.
        foreach (var chunk in keys.Chunk(500))
        {
            var sql = new StringBuilder("INSERT INTO ingest_keys (publisher_id, transaction_id, event_id, event_timestamp, created_at) VALUES ");
            var parameters = new List<object>();
            for (var i = 0; i < chunk.Length; i++)
            {
                sql.Append(i == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"({{{i * 5}}}, {{{i * 5 + 1}}}, {{{i * 5 + 2}}}, {{{i * 5 + 3}}}, {{{i * 5 + 4}}})");
                var k = chunk[i];
                parameters.AddRange([k.PublisherId, k.TransactionId, k.EventId, k.EventTimestamp, k.CreatedAt]);
            }

            sql.Append(" ON CONFLICT DO NOTHING");
            await db.Database.ExecuteSqlRawAsync(sql.ToString(), parameters, ct);
        }
    }

    /// <summary>
    /// SQLite: one prepared single-row insert, bound by position, in one transaction. (A multi-row INSERT with
    /// thousands of named parameters made SQLite look each name up in a linear list — a third of the ingest
    /// path's CPU, docs/benchmarks.md.)
    /// </summary>
    private async Task RememberOnSqliteAsync(List<IngestKey> keys, CancellationToken ct)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        using (var insert = new Storage.SqliteBatchStatement((Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection(),
            "INSERT INTO ingest_keys (publisher_id, transaction_id, event_id, event_timestamp, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"))
        {
            foreach (var k in keys)
            {
                insert.Guid(1, k.PublisherId);
                insert.Text(2, k.TransactionId);
                insert.Guid(3, k.EventId);
                insert.Instant(4, k.EventTimestamp);
                insert.Instant(5, k.CreatedAt);
                insert.Execute();
            }
        }

        await transaction.CommitAsync(ct);
    }

    private static IngestResult Rejected(LagoEvent e, IngestError error) => new("rejected", e, null, null, 0, 0, null, null, error);

    private static (IngestError? Error, Guid SubscriptionId, DateTime Timestamp, long Input, long Output) Validate(LagoEvent e, string at, DateTime now)
    {
        if (string.IsNullOrWhiteSpace(e.TransactionId) || e.TransactionId.Length > 200)
        {
            return (new IngestError("value_is_mandatory", "transaction_id is required (at most 200 characters)", at + ".transaction_id"), default, default, 0, 0);
        }

        if (!Guid.TryParse(e.ExternalSubscriptionId, out var subscriptionId))
        {
            return (new IngestError("subscription_not_found", "external_subscription_id must be the id of a subscription (POST /api/subscriptions returns it)", at + ".external_subscription_id"), default, default, 0, 0);
        }

        if (e.Code != MetricCode)
        {
            return (new IngestError("metric_not_found", $"code must be the billable metric \"{MetricCode}\"", at + ".code"), default, default, 0, 0);
        }

        DateTime timestamp;
        if (e.Timestamp is not { } ts || ts.ValueKind == JsonValueKind.Null)
        {
            timestamp = now;
        }
        else if (!TryUnixSeconds(ts, out timestamp))
        {
            return (new IngestError("invalid_timestamp", "timestamp must be Unix seconds (fractions allowed), e.g. 1732435200.5", at + ".timestamp"), default, default, 0, 0);
        }
        else if (timestamp > now.AddMinutes(5))
        {
            return (new IngestError("invalid_timestamp", "timestamp is in the future", at + ".timestamp"), default, default, 0, 0);
        }

        var properties = e.Properties ?? [];
        if (!TryTokens(properties, "tokens_input", out var input) || !TryTokens(properties, "tokens_output", out var output))
        {
            return (new IngestError("invalid_properties", "properties.tokens_input and properties.tokens_output must be non-negative integers", at + ".properties"), default, default, 0, 0);
        }

        // Checked one by one first, so the sum is only taken when it cannot wrap.
        if (input > MaxTokensPerEvent || output > MaxTokensPerEvent || input + output > MaxTokensPerEvent)
        {
            var field = input > MaxTokensPerEvent ? "tokens_input" : output > MaxTokensPerEvent ? "tokens_output" : "total_tokens";
            return (new IngestError("invalid_properties", string.Create(CultureInfo.InvariantCulture, $"an event reports at most {MaxTokensPerEvent:N0} tokens (tokens_input + tokens_output); send larger usage as several events"),
                $"{at}.properties.{field}"), default, default, 0, 0);
        }

        if (properties.ContainsKey("total_tokens") && (!TryTokens(properties, "total_tokens", out var total) || total != input + output))
        {
            return (new IngestError("invalid_properties", "properties.total_tokens must equal tokens_input + tokens_output", at + ".properties.total_tokens"), default, default, 0, 0);
        }

        return (null, subscriptionId, timestamp, input, output);
    }

    private static bool TryUnixSeconds(JsonElement value, out DateTime instant)
    {
        instant = default;
        decimal seconds;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out var number))
        {
            seconds = number;
        }
        else if (value.ValueKind != JsonValueKind.String || !decimal.TryParse(value.GetString(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out seconds))
        {
            return false;
        }

        if (seconds is < 0 or > 253402300799m)
        {
            return false;
        }

        instant = DateTime.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        return true;
    }

    private static bool TryTokens(Dictionary<string, JsonElement> properties, string name, out long tokens)
    {
        tokens = 0;
        if (!properties.TryGetValue(name, out var value))
        {
            return name != "tokens_input" && name != "tokens_output";
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number => value.TryGetInt64(out tokens) && tokens >= 0,
            JsonValueKind.String => long.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out tokens),
            _ => false,
        };
    }
}
