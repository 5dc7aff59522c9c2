using System.Globalization;
using System.Security.Claims;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Http;
using UltraRepo.Registry;

namespace UltraRepo.Metering;

/// <summary>
/// Dashboards, read from rollups only (never raw events): a consumer's month,
/// a publisher's analytics over their own listings, and the operator's overview. Amounts are exact
/// decimal strings (rounding happens on invoices), so every figure reconciles with the raw events.
/// Field names are snake_case, as in the product plan's dashboard shapes (and Lago's API).
/// </summary>
public static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboardApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/consumer/usage", ConsumerMonth).WithTags("Dashboards").RequireAuthorization();
        app.MapGet("/api/publisher/analytics", PublisherAnalytics).WithTags("Dashboards").RequireAuthorization();
        app.MapGet("/api/admin/usage/overview", Overview).WithTags("Admin").RequireAuthorization(AdminApi.AdminPolicy);
        return app;
    }

    public sealed record PackageUsage(
        [property: JsonPropertyName("package_id")] string PackageId,
        [property: JsonPropertyName("package_name")] string PackageName,
        [property: JsonPropertyName("tokens_used")] long TokensUsed,
        [property: JsonPropertyName("estimated_cost")] string EstimatedCost,
        [property: JsonPropertyName("currency")] string Currency,
        [property: JsonPropertyName("requests")] long Requests,
        [property: JsonPropertyName("errors")] long Errors);

    public sealed record ConsumerUsage(
        [property: JsonPropertyName("month")] string Month,
        [property: JsonPropertyName("packages")] IReadOnlyList<PackageUsage> Packages,
        [property: JsonPropertyName("total_cost")] string? TotalCost,
        [property: JsonPropertyName("currency")] string? Currency,
        [property: JsonPropertyName("total_tokens")] long TotalTokens,
        [property: JsonPropertyName("totals_by_currency")] IReadOnlyDictionary<string, string> TotalsByCurrency,
        [property: JsonPropertyName("invoice")] object? Invoice);

    public sealed record DailyAnalytics(
        [property: JsonPropertyName("date")] string Date,
        [property: JsonPropertyName("tokens")] long Tokens,
        [property: JsonPropertyName("revenue")] string Revenue,
        [property: JsonPropertyName("users")] long Users);

    public sealed record AnalyticsPeriod(
        [property: JsonPropertyName("start")] string Start,
        [property: JsonPropertyName("end")] string End);

    public sealed record PublisherAnalyticsResponse(
        [property: JsonPropertyName("period")] AnalyticsPeriod Period,
        [property: JsonPropertyName("total_revenue")] string? TotalRevenue,
        [property: JsonPropertyName("currency")] string? Currency,
        [property: JsonPropertyName("total_tokens")] long TotalTokens,
        [property: JsonPropertyName("unique_consumers")] long UniqueConsumers,
        [property: JsonPropertyName("daily_breakdown")] IReadOnlyList<DailyAnalytics> DailyBreakdown,
        [property: JsonPropertyName("revenue_by_currency")] IReadOnlyDictionary<string, string> RevenueByCurrency);

    public sealed record TopConsumer(
        [property: JsonPropertyName("consumer_id")] Guid ConsumerId,
        [property: JsonPropertyName("handle")] string Handle,
        [property: JsonPropertyName("tokens")] long Tokens);

    public sealed record OperatorOverview(
        [property: JsonPropertyName("as_of")] DateTime AsOf,
        [property: JsonPropertyName("top_consumers_last_hour")] IReadOnlyList<TopConsumer> TopConsumersLastHour,
        [property: JsonPropertyName("revenue_today")] IReadOnlyDictionary<string, string> RevenueToday,
        [property: JsonPropertyName("tokens_per_second")] double TokensPerSecond,
        [property: JsonPropertyName("tokens_today")] long TokensToday,
        [property: JsonPropertyName("requests_today")] long RequestsToday);

    /// <summary>Hook for billing to attach the consumer's draft invoice for the month.</summary>
    public interface IDraftInvoices
    {
        Task<object?> ForConsumerAsync(Guid consumerId, string month, CancellationToken ct);
    }

    private static async Task<Results<Ok<ConsumerUsage>, ProblemHttpResult>> ConsumerMonth(
        ClaimsPrincipal caller, MarketplaceDb db, TimeProvider clock, IServiceProvider services, CancellationToken ct, string? month = null)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        month ??= now.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        if (!CalendarQuery.TryMonth(month, out var start))
        {
            return Problems.Validation("query.month", "month must be " + CalendarQuery.MonthRule, month);
        }

        var end = start.AddMonths(1);
        var consumerId = caller.GetUserId();
        var rows = await db.UsageDaily.AsNoTracking()
            .Where(r => r.ConsumerId == consumerId && r.BucketStart >= start && r.BucketStart < end)
            .Select(r => new { r.ServerName, r.Currency, r.BillableTokens, r.Cost, r.Requests, r.Errors })
            .ToListAsync(ct);
        var names = rows.Select(r => r.ServerName).Distinct().ToList();
        var titles = await Titles(db, names, ct);
        var packages = rows
            .GroupBy(r => (r.ServerName, r.Currency))
            .Select(g => new PackageUsage(g.Key.ServerName, titles.GetValueOrDefault(g.Key.ServerName) ?? g.Key.ServerName,
                g.Sum(r => r.BillableTokens), Money.Format(g.Sum(r => r.Cost)), g.Key.Currency, g.Sum(r => r.Requests), g.Sum(r => r.Errors)))
            .OrderBy(p => p.PackageId, StringComparer.Ordinal)
            .ToList();
        var byCurrency = rows.GroupBy(r => r.Currency).ToDictionary(g => g.Key, g => Money.Format(g.Sum(r => r.Cost)));
        var single = byCurrency.Count <= 1;
        var invoice = services.GetService<IDraftInvoices>() is { } invoices ? await invoices.ForConsumerAsync(consumerId, month, ct) : null;
        return TypedResults.Ok(new ConsumerUsage(month, packages,
            single ? byCurrency.Values.FirstOrDefault() ?? "0" : null, single ? byCurrency.Keys.FirstOrDefault() ?? "USD" : null,
            rows.Sum(r => r.BillableTokens), byCurrency, invoice));
    }

    private static async Task<Results<Ok<PublisherAnalyticsResponse>, ProblemHttpResult>> PublisherAnalytics(
        ClaimsPrincipal caller, MarketplaceDb db, TimeProvider clock, CancellationToken ct,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "start_date")] string? startDate = null,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "end_date")] string? endDate = null)
    {
        var today = clock.GetUtcNow().UtcDateTime.Date;
        var errors = new List<FieldError>();
        // A bad end falls back to today, so the default start (and the day after end, below) can always be computed.
        var end = ParseDate(endDate, today, "query.end_date", errors);
        var start = ParseDate(startDate, end.AddDays(-29), "query.start_date", errors);
        if (errors.Count == 0 && (start > end || (end - start).TotalDays > 366))
        {
            errors.Add(new("query.start_date", "start_date must be on or before end_date, at most 366 days apart", startDate));
        }

        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }

        var publisherId = caller.GetUserId();
        var until = end.AddDays(1);
        // The names first, so each rollup query is a key range scan per listing (server_name = ANY(…)).
        var mine = await db.Listings.AsNoTracking().Where(l => l.OwnerId == publisherId).Select(l => l.ServerName).ToListAsync(ct);
        // Daily tokens and revenue from the per-listing rollup (a few rows per listing and day); distinct consumers
        // from the consumer-days bitmaps (one row per consumer, listing and month). Sums stay exact decimals.
        var dayRows = await db.UsageListingDaily.AsNoTracking()
            .Where(r => mine.Contains(r.ServerName) && r.BucketStart >= start && r.BucketStart < until)
            .Select(r => new { r.BucketStart, r.Currency, r.BillableTokens, r.Cost })
            .ToListAsync(ct);
        var firstMonth = UsageConsumerDays.MonthOf(start);
        var used = await db.UsageConsumerDays.AsNoTracking()
            .Where(r => mine.Contains(r.ServerName) && r.Month >= firstMonth && r.Month < until)
            .Select(r => new { r.ConsumerId, r.Month, r.Days })
            .ToListAsync(ct);

        var days = new Dictionary<DateTime, (long Tokens, decimal Revenue)>();
        var byCurrency = new SortedDictionary<string, decimal>(StringComparer.Ordinal);
        foreach (var r in dayRows)
        {
            var day = days.GetValueOrDefault(r.BucketStart);
            days[r.BucketStart] = (day.Tokens + r.BillableTokens, day.Revenue + r.Cost);
            byCurrency[r.Currency] = byCurrency.GetValueOrDefault(r.Currency) + r.Cost;
        }

        // A consumer counts once per day and once over the range, whichever of the publisher's listings they used.
        var perConsumerMonth = new Dictionary<(Guid Consumer, DateTime Month), int>();
        foreach (var r in used)
        {
            var month = DateTime.SpecifyKind(r.Month, DateTimeKind.Utc);
            var inRange = r.Days & RangeMask(month, start, until);
            if (inRange != 0)
            {
                perConsumerMonth[(r.ConsumerId, month)] = perConsumerMonth.GetValueOrDefault((r.ConsumerId, month)) | inRange;
            }
        }

        var users = new Dictionary<DateTime, int>();
        foreach (var ((_, month), bits) in perConsumerMonth)
        {
            for (var rest = bits; rest != 0; rest &= rest - 1)
            {
                var day = month.AddDays(System.Numerics.BitOperations.TrailingZeroCount(rest));
                users[day] = users.GetValueOrDefault(day) + 1;
            }
        }

        var consumers = perConsumerMonth.Keys.Select(k => k.Consumer).Distinct().Count();
        var daily = Enumerable.Range(0, (int)(end - start).TotalDays + 1)
            .Select(d => start.AddDays(d))
            .Select(day => (Day: day, Sums: days.GetValueOrDefault(day)))
            .Select(d => new DailyAnalytics(d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), d.Sums.Tokens, Money.Format(d.Sums.Revenue), users.GetValueOrDefault(d.Day)))
            .ToList();
        var revenue = byCurrency.ToDictionary(c => c.Key, c => Money.Format(c.Value));
        var single = revenue.Count <= 1;
        return TypedResults.Ok(new PublisherAnalyticsResponse(
            new AnalyticsPeriod(start.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), end.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            single ? revenue.Values.FirstOrDefault() ?? "0" : null, single ? revenue.Keys.FirstOrDefault() ?? "USD" : null,
            days.Values.Sum(d => d.Tokens), consumers, daily, revenue));
    }

    /// <summary>The bits (day d → bit d - 1) of <paramref name="month"/>'s days inside [start, until).</summary>
    private static int RangeMask(DateTime month, DateTime start, DateTime until)
    {
        var mask = 0;
        var last = month.AddMonths(1) < until ? month.AddMonths(1) : until;
        for (var day = month > start ? month : start; day < last; day = day.AddDays(1))
        {
            mask |= 1 << (day.Day - 1);
        }

        return mask;
    }

    private static async Task<Ok<OperatorOverview>> Overview(MarketplaceDb db, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var hour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc);
        var previous = hour.AddHours(-1);
        var lastHours = await db.UsageHourly.AsNoTracking()
            .Where(r => r.BucketStart >= previous)
            .Select(r => new { r.BucketStart, r.ConsumerId, r.TotalTokens })
            .ToListAsync(ct);
        // "Last hour" from hourly buckets: the current hour so far and the part of the previous hour still inside the window.
        var previousShare = 1 - (now - hour).TotalHours;
        var top = lastHours
            .GroupBy(r => r.ConsumerId)
            .Select(g => (Consumer: g.Key, Tokens: (long)Math.Round(g.Sum(r => r.BucketStart == hour ? r.TotalTokens : r.TotalTokens * previousShare))))
            .OrderByDescending(x => x.Tokens).Take(10).ToList();
        var ids = top.Select(t => t.Consumer).ToList();
        var handles = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.Handle, ct);
        var today = now.Date;
        var todayRows = await db.UsageDaily.AsNoTracking().Where(r => r.BucketStart == today)
            .Select(r => new { r.Currency, r.Cost, r.TotalTokens, r.Requests }).ToListAsync(ct);
        var window = (now - previous).TotalSeconds;
        return TypedResults.Ok(new OperatorOverview(
            now,
            top.Select(t => new TopConsumer(t.Consumer, handles.GetValueOrDefault(t.Consumer) ?? "", t.Tokens)).ToList(),
            todayRows.GroupBy(r => r.Currency).ToDictionary(g => g.Key, g => Money.Format(g.Sum(r => r.Cost))),
            window <= 0 ? 0 : Math.Round(lastHours.Sum(r => r.TotalTokens) / window, 3),
            todayRows.Sum(r => r.TotalTokens),
            todayRows.Sum(r => r.Requests)));
    }

    private static DateTime ParseDate(string? text, DateTime fallback, string location, List<FieldError> errors)
    {
        if (text is null)
        {
            return fallback;
        }

        if (CalendarQuery.TryDay(text, out var date))
        {
            return date;
        }

        errors.Add(new(location, "dates are " + CalendarQuery.DayRule, text));
        return fallback;
    }

    private static async Task<Dictionary<string, string?>> Titles(MarketplaceDb db, List<string> names, CancellationToken ct) =>
        await db.RegistryEntries.AsNoTracking()
            .Where(e => e.IsLatest && names.Contains(e.ServerName))
            .ToDictionaryAsync(e => e.ServerName, e => e.Title, ct);
}
