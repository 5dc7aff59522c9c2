using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Pricing;

namespace UltraRepo.Lago;

/// <summary>What an export did: Lago's answers for the billable metric and the plan.</summary>
public sealed record LagoPlanExported(string PlanCode, bool Created, JsonNode? BillableMetric, JsonNode? Plan);

/// <summary>Why an export did not happen; <see cref="Lago"/> is Lago's own answer when it refused.</summary>
public sealed record LagoExportFailure(int Status, string Detail, JsonNode? Lago = null);

/// <summary>
/// Exports a listing's current usage pricing to Lago: makes sure the <c>mcp_tokens</c> billable metric exists
/// (sum of <c>total_tokens</c>), then creates the plan <c>ultrarepo-&lt;slug&gt;</c> or updates it in place
/// (keeping its charge's id, so Lago edits the charge instead of replacing it).
/// </summary>
public sealed class LagoPlanExport(MarketplaceDb db, PricingCatalog pricing, LagoClient lago)
{
    public async Task<(LagoPlanExported? Exported, LagoExportFailure? Failure)> ExportAsync(string serverName, CancellationToken ct)
    {
        if (!await db.Listings.AsNoTracking().AnyAsync(l => l.ServerName == serverName, ct))
        {
            return (null, new LagoExportFailure(StatusCodes.Status404NotFound, "Server not found"));
        }

        var current = (await pricing.CurrentAsync(serverName, ct)).Plan;
        var (_, check) = LagoPlans.Plan(serverName, current, "", null, update: false);
        if (check is not null)
        {
            return (null, new LagoExportFailure(StatusCodes.Status409Conflict, check));
        }

        try
        {
            var (metric, metricFailure) = await EnsureMetricAsync(ct);
            if (metricFailure is not null)
            {
                return (null, metricFailure);
            }

            var metricId = (string?)metric!["lago_id"] ?? "";
            var code = LagoPlans.PlanCode(serverName);
            var path = "api/v1/plans/" + Uri.EscapeDataString(code);
            var existing = await lago.SendAsync(HttpMethod.Get, path, null, ct);
            if (existing.Status == StatusCodes.Status404NotFound)
            {
                var (plan, _) = LagoPlans.Plan(serverName, current, metricId, null, update: false);
                var created = await lago.SendAsync(HttpMethod.Post, "api/v1/plans", new JsonObject { ["plan"] = plan }, ct);
                return created.IsSuccess
                    ? (new LagoPlanExported(code, true, metric, created.Body?["plan"]), null)
                    : (null, Refused("creating the plan", created));
            }

            if (!existing.IsSuccess || existing.Body?["plan"] is not JsonObject found)
            {
                return (null, Refused("reading the plan", existing));
            }

            if ((string?)found["description"] is { } description && description.StartsWith(LagoPlans.DescriptionPrefix, StringComparison.Ordinal)
                && !description.StartsWith(LagoPlans.DescriptionPrefix + serverName + ":", StringComparison.Ordinal))
            {
                return (null, new LagoExportFailure(StatusCodes.Status409Conflict, $"Lago's plan {code} holds another listing's pricing ({description}); rename or delete it in Lago first", found));
            }

            var chargeId = (found["charges"] as JsonArray ?? [])
                .OfType<JsonObject>()
                .FirstOrDefault(c => (string?)c["lago_billable_metric_id"] == metricId || (string?)c["billable_metric_code"] == LagoEvents.MetricCode)?["lago_id"]?.GetValue<string>();
            var (update, _) = LagoPlans.Plan(serverName, current, metricId, chargeId, update: true);
            var updated = await lago.SendAsync(HttpMethod.Put, path, new JsonObject { ["plan"] = update }, ct);
            return updated.IsSuccess
                ? (new LagoPlanExported(code, false, metric, updated.Body?["plan"]), null)
                : (null, Refused("updating the plan", updated));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (null, new LagoExportFailure(StatusCodes.Status502BadGateway, $"could not reach Lago: {e.GetBaseException().Message}"));
        }
    }

    private async Task<(JsonObject? Metric, LagoExportFailure? Failure)> EnsureMetricAsync(CancellationToken ct)
    {
        var found = await lago.SendAsync(HttpMethod.Get, "api/v1/billable_metrics/" + LagoEvents.MetricCode, null, ct);
        if (found.IsSuccess && found.Body?["billable_metric"] is JsonObject metric)
        {
            return (string?)metric["aggregation_type"] == "sum_agg" && (string?)metric["field_name"] == "total_tokens"
                ? (metric, null)
                : (null, new LagoExportFailure(StatusCodes.Status409Conflict,
                    $"Lago's billable metric {LagoEvents.MetricCode} does not sum total_tokens (aggregation {(string?)metric["aggregation_type"]}, field {(string?)metric["field_name"]}); fix it in Lago first", metric));
        }

        if (found.Status != StatusCodes.Status404NotFound)
        {
            return (null, Refused("reading the billable metric", found));
        }

        var created = await lago.SendAsync(HttpMethod.Post, "api/v1/billable_metrics", new JsonObject { ["billable_metric"] = LagoPlans.BillableMetric() }, ct);
        return created.IsSuccess && created.Body?["billable_metric"] is JsonObject newMetric
            ? (newMetric, null)
            : (null, Refused("creating the billable metric", created));
    }

    private static LagoExportFailure Refused(string step, LagoResponse response) =>
        new(StatusCodes.Status502BadGateway, $"Lago refused {step}: {response.Describe()}", response.Body);
}
