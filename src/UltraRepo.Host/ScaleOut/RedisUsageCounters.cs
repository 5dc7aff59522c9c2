using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;
using UltraRepo.Metering;

namespace UltraRepo.ScaleOut;

/// <summary>
/// Month-to-date usage and reservations shared by every gateway node, in one Redis hash per consumer
/// and period, changed only by Lua scripts so a check and its reservation are one atomic step.
/// Money is held in nano-units of the listing's currency (budgets are enforced to 10⁻⁹; invoices come
/// from the recorded events, not from here). A hash is seeded from the database on first use.
/// </summary>
public sealed class RedisUsageCounters(IConnectionMultiplexer redis, IRecordedUsage recorded) : IUsageCounters
{
    private const decimal Nano = 1_000_000_000m;
    private static readonly TimeSpan Retention = TimeSpan.FromDays(45);

    // KEYS[1] usage hash. ARGV: server, currency, input, estimate, nanos per token, listing limit (-1: none), budgets JSON.
    private const string ReserveScript = """
        local h = redis.call('HGETALL', KEYS[1])
        local f = {}
        for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
        local function num(k) return tonumber(f[k] or '0') end
        local server, currency = ARGV[1], ARGV[2]
        local input, estimate, price, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local servers = {}
        for k, _ in pairs(f) do
          if string.sub(k, 1, 2) == 'u|' or string.sub(k, 1, 2) == 'r|' then servers[string.sub(k, 3)] = true end
        end
        local tokens = input + estimate
        if limit >= 0 then
          local left = limit - num('u|' .. server) - num('r|' .. server)
          if left <= 0 or left < input then return {0, 'listing_limit', -1} end
          if left < tokens then tokens = left end
        end
        local budgets = cjson.decode(ARGV[7])
        for i, b in ipairs(budgets) do
          local used, usedCost = 0, 0
          for s, _ in pairs(servers) do
            if b.s == cjson.null or b.s == nil or b.s == s then
              used = used + num('u|' .. s) + num('r|' .. s)
              if f['cur|' .. s] == b.c then usedCost = usedCost + num('c|' .. s) + num('rc|' .. s) end
            end
          end
          if b.t ~= nil and b.t ~= cjson.null then
            local left = b.t - used
            if left <= 0 or left < input then return {0, 'budget', i - 1} end
            if left < tokens then tokens = left end
          end
          if b.a ~= nil and b.a ~= cjson.null and b.a - usedCost <= 0 then return {0, 'budget', i - 1} end
        end
        local cost = math.floor(tokens * price + 0.5)
        redis.call('HINCRBY', KEYS[1], 'r|' .. server, string.format('%.0f', tokens))
        redis.call('HINCRBY', KEYS[1], 'rc|' .. server, string.format('%.0f', cost))
        redis.call('HSET', KEYS[1], 'cur|' .. server, currency)
        return {1, string.format('%.0f', tokens), string.format('%.0f', cost)}
        """;

    // KEYS[1] usage hash. ARGV: server, currency, reserved tokens, reserved cost, actual tokens. Returns the hash after.
    private const string SettleScript = """
        redis.call('HINCRBY', KEYS[1], 'u|' .. ARGV[1], ARGV[5])
        redis.call('HINCRBY', KEYS[1], 'r|' .. ARGV[1], -tonumber(ARGV[3]))
        redis.call('HINCRBY', KEYS[1], 'rc|' .. ARGV[1], -tonumber(ARGV[4]))
        redis.call('HSET', KEYS[1], 'cur|' .. ARGV[1], ARGV[2])
        return redis.call('HGETALL', KEYS[1])
        """;

    // KEYS[1] usage hash. ARGV: JSON [[server, currency, tokens, costNanos], ...]. Seeds once.
    private const string SeedScript = """
        if redis.call('HEXISTS', KEYS[1], 'loaded') == 1 then return 0 end
        for _, row in ipairs(cjson.decode(ARGV[1])) do
          redis.call('HINCRBY', KEYS[1], 'u|' .. row[1], row[3])
          redis.call('HINCRBY', KEYS[1], 'c|' .. row[1], row[4])
          redis.call('HSET', KEYS[1], 'cur|' .. row[1], row[2])
        end
        redis.call('HSET', KEYS[1], 'loaded', '1')
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        return 1
        """;

    public async ValueTask<Admission> ReserveAsync(ReservationRequest request, CancellationToken ct)
    {
        var key = await SeededKeyAsync(request.ConsumerId, request.Period, ct);
        var hard = request.Budgets.Where(b => !b.AlertOnly && (b.ServerName is null || b.ServerName == request.ServerName)).ToList();
        var budgetJson = JsonSerializer.Serialize(hard.Select(b => new Dictionary<string, object?>
        {
            ["s"] = b.ServerName,
            ["t"] = b.TokenLimit,
            ["a"] = b.AmountLimit is { } a ? (long)(a * Nano) : null,
            ["c"] = b.Currency,
        }));
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(ReserveScript, [key],
        [
            request.ServerName, request.Currency, request.InputTokens, request.OutputEstimate,
            ((double)(request.MaxPricePerToken * Nano)).ToString("R", CultureInfo.InvariantCulture), request.ListingTokenLimit ?? -1, budgetJson,
        ]))!;
        if ((int)result[0] == 1)
        {
            return new Admission.Admitted(new Reservation(request.ConsumerId, request.ServerName, request.Period, request.Currency, (long)result[1], (long)result[2] / Nano));
        }

        var reason = (string)result[1]!;
        if (reason == "listing_limit")
        {
            return new Admission.Refused(reason, $"the monthly limit of {request.ListingTokenLimit} tokens on {request.ServerName} is reached");
        }

        var budget = hard[(int)result[2]];
        var what = budget.TokenLimit is { } t ? $"{t} tokens" : $"{budget.AmountLimit} {budget.Currency}";
        return new Admission.Refused(reason, $"your {(budget.ServerName is null ? "monthly" : budget.ServerName + " monthly")} budget of {what} this month is used up");
    }

    public async ValueTask<Settlement> SettleAsync(Reservation reservation, long actualTokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct)
    {
        var key = await SeededKeyAsync(reservation.ConsumerId, reservation.Period, ct);
        var db = redis.GetDatabase();
        var reservedNanos = (long)Math.Round(reservation.Cost * Nano);
        var after = (RedisResult[])(await db.ScriptEvaluateAsync(SettleScript, [key],
            [reservation.ServerName, reservation.Currency, reservation.Tokens, reservedNanos, actualTokens]))!;
        var fields = Fields(after);
        var mtdAfter = fields.TryGetValue("u|" + reservation.ServerName, out var u) ? long.Parse(u, CultureInfo.InvariantCulture) : 0;
        var mtdBefore = mtdAfter - actualTokens;
        decimal cost;
        long costNanos;
        try
        {
            cost = marginalCost(mtdBefore, actualTokens);
            costNanos = (long)Math.Round(cost * Nano);
        }
        catch
        {
            // The usage cannot be rated: undo the step so the counters do not hold tokens that will not be recorded.
            await db.ScriptEvaluateAsync(SettleScript, [key], [reservation.ServerName, reservation.Currency, -reservation.Tokens, -reservedNanos, -actualTokens]);
            throw;
        }

        if (costNanos != 0)
        {
            await db.HashIncrementAsync(key, "c|" + reservation.ServerName, costNanos);
        }

        var totalsAfter = Totals(fields, reservation.ServerName, costNanos);
        var totalsBefore = totalsAfter.Select(t => t.ServerName == reservation.ServerName
            ? t with { Used = t.Used - actualTokens, Cost = t.Cost - cost }
            : t).ToList();
        return new Settlement(mtdBefore, mtdAfter, cost, UsageLimits.Crossings(budgets, totalsBefore, totalsAfter, reservation.ServerName, reservation.Currency));
    }

    /// <summary>One script call for the whole group: the range it occupies is split in order afterwards.</summary>
    public async ValueTask<IReadOnlyList<Settlement>> SettleManyAsync(Reservation none, IReadOnlyList<long> tokens, Func<long, long, decimal> marginalCost, IReadOnlyList<BudgetLimit> budgets, CancellationToken ct)
    {
        var total = tokens.Sum();
        var costs = new List<decimal>(tokens.Count);
        var group = await SettleAsync(none, total, (before, _) =>
        {
            var position = before;
            foreach (var amount in tokens)
            {
                costs.Add(marginalCost(position, amount));
                position += amount;
            }

            return costs.Sum();
        }, budgets, ct);

        var settlements = new List<Settlement>(tokens.Count);
        var start = group.MonthToDateBefore;
        for (var i = 0; i < tokens.Count; i++)
        {
            var last = i == tokens.Count - 1;
            settlements.Add(new Settlement(start, start + tokens[i], costs[i], last ? group.Crossings : []));
            start += tokens[i];
        }

        return settlements;
    }

    private async Task<RedisKey> SeededKeyAsync(Guid consumerId, string period, CancellationToken ct)
    {
        RedisKey key = $"ultrarepo:usage:{consumerId:N}:{period}";
        var db = redis.GetDatabase();
        if (!await db.HashExistsAsync(key, "loaded"))
        {
            var rows = await recorded.ForConsumerAsync(consumerId, period, ct);
            var seed = JsonSerializer.Serialize(rows.Select(r => new object[] { r.ServerName, r.Currency, r.Tokens, (long)Math.Round(r.Cost * Nano) }));
            await db.ScriptEvaluateAsync(SeedScript, [key], [seed, (long)Retention.TotalSeconds]);
        }

        return key;
    }

    private static Dictionary<string, string> Fields(RedisResult[] flat)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < flat.Length; i += 2)
        {
            fields[(string)flat[i]!] = (string)flat[i + 1]!;
        }

        return fields;
    }

    private static List<UsageLimits.ServerTotals> Totals(Dictionary<string, string> fields, string settledServer, long settledCostNanos)
    {
        long Num(string field) => fields.TryGetValue(field, out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : 0;
        return fields.Keys.Where(k => k.StartsWith("u|", StringComparison.Ordinal) || k.StartsWith("r|", StringComparison.Ordinal))
            .Select(k => k[2..]).Distinct()
            .Select(s => new UsageLimits.ServerTotals(
                s,
                fields.GetValueOrDefault("cur|" + s, ""),
                Num("u|" + s),
                Num("r|" + s),
                (Num("c|" + s) + (s == settledServer ? settledCostNanos : 0)) / Nano,
                Num("rc|" + s) / Nano))
            .ToList();
    }
}
