using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Http;

namespace UltraRepo.Metering.Ingest;

/// <summary>
/// Lago-compatible usage ingestion (<c>/api/v1/events</c>), so Lago's own client libraries work against
/// the marketplace. Bodies and responses use Lago's snake_case shapes; each event's result carries
/// <c>status</c> (accepted, duplicate, rejected) and, when rejected, an <c>error</c> naming the field.
/// </summary>
public static class IngestApi
{
    private static readonly JsonSerializerOptions Lago = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IEndpointRouteBuilder MapIngestApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/events").WithTags("Usage ingest (Lago-compatible)").RequireAuthorization();
        group.MapPost("/", CreateOne);
        group.MapPost("/batch", CreateBatch);
        group.MapGet("/{transactionId}", Get);
        return app;
    }

    private sealed record OneEnvelope(LagoEvent? Event);

    private sealed record BatchEnvelope(List<LagoEvent>? Events);

    private static async Task<IResult> CreateOne(HttpRequest request, ClaimsPrincipal caller, IngestUsage ingest, CancellationToken ct)
    {
        var (envelope, problem) = await ReadAsync<OneEnvelope>(request, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (envelope?.Event is null)
        {
            return Invalid("event", "value_is_mandatory", "the body must be {\"event\": {...}}");
        }

        var result = (await ingest.IngestAsync(caller.GetUserId(), [envelope.Event], "event", ct))[0];
        return result.Error is { } error
            ? Invalid(error.Field, error.Code, error.Message)
            : Json(new JsonObject { ["event"] = ToJson(result) });
    }

    private static async Task<IResult> CreateBatch(HttpRequest request, ClaimsPrincipal caller, IngestUsage ingest, CancellationToken ct)
    {
        var (envelope, problem) = await ReadAsync<BatchEnvelope>(request, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (envelope?.Events is not { Count: > 0 } events)
        {
            return Invalid("events", "value_is_mandatory", "the body must be {\"events\": [...]} with at least one event");
        }

        if (events.Count > IngestUsage.MaxBatch)
        {
            return Invalid("events", "too_many_events", $"a batch holds at most {IngestUsage.MaxBatch} events");
        }

        var results = await ingest.IngestAsync(caller.GetUserId(), events, "events", ct);
        return Json(new JsonObject
        {
            ["events"] = new JsonArray(results.Select(r => (JsonNode)ToJson(r)).ToArray()),
            ["accepted"] = results.Count(r => r.Status == "accepted"),
            ["duplicates"] = results.Count(r => r.Status == "duplicate"),
            ["rejected"] = results.Count(r => r.Status == "rejected"),
        });
    }

    private static async Task<IResult> Get(string transactionId, ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct)
    {
        var publisherId = caller.GetUserId();
        var key = await db.IngestKeys.AsNoTracking().FirstOrDefaultAsync(k => k.PublisherId == publisherId && k.TransactionId == transactionId, ct);
        var usage = key is null ? null : await db.UsageEvents.AsNoTracking().FirstOrDefaultAsync(e => e.Id == key.EventId && e.Timestamp == key.EventTimestamp, ct);
        if (key is null || usage is null)
        {
            var notFound = Problems.Create(StatusCodes.Status404NotFound, "Not Found", "no event with this transaction_id", [new FieldError("path.transaction_id", "event_not_found")]);
            return notFound;
        }

        return Json(new JsonObject
        {
            ["event"] = new JsonObject
            {
                ["lago_id"] = usage.Id.ToString(),
                ["transaction_id"] = usage.TransactionId,
                ["lago_subscription_id"] = usage.SubscriptionId?.ToString(),
                ["external_subscription_id"] = usage.SubscriptionId?.ToString(),
                ["code"] = IngestUsage.MetricCode,
                ["timestamp"] = usage.Timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["properties"] = new JsonObject { ["tokens_input"] = usage.InputTokens, ["tokens_output"] = usage.OutputTokens, ["total_tokens"] = usage.TotalTokens },
                ["cost"] = Money.Format(usage.Cost),
                ["currency"] = usage.Currency,
                ["created_at"] = key.CreatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            },
        });
    }

    private static JsonObject ToJson(IngestResult r)
    {
        var e = r.Event;
        var json = new JsonObject
        {
            ["lago_id"] = r.EventId?.ToString(),
            ["transaction_id"] = e.TransactionId,
            ["lago_subscription_id"] = e.ExternalSubscriptionId,
            ["external_subscription_id"] = e.ExternalSubscriptionId,
            ["code"] = e.Code,
            ["timestamp"] = r.Timestamp?.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["properties"] = e.Properties is null ? null : JsonSerializer.SerializeToNode(e.Properties, Lago),
            ["status"] = r.Status,
        };
        if (r.Cost is { } cost)
        {
            json["cost"] = Money.Format(cost);
            json["currency"] = r.Currency;
        }

        if (r.Error is { } error)
        {
            json["error"] = new JsonObject { ["code"] = error.Code, ["message"] = error.Message, ["field"] = error.Field };
        }

        return json;
    }

    private static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken ct)
    {
        try
        {
            return (await JsonSerializer.DeserializeAsync<T>(request.Body, Lago, ct), null);
        }
        catch (JsonException e)
        {
            return (default, Problems.Validation(RequestBodyErrors.Location(e.Path), RequestBodyErrors.Describe(e)));
        }
    }

    /// <summary>422 in Lago's error shape (which its clients parse) and as problem+json with the field.</summary>
    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Invalid(string field, string code, string message)
    {
        var problem = Problems.Create(StatusCodes.Status422UnprocessableEntity, "Unprocessable Entity", message, [new FieldError("body." + field, message)]);
        problem.ProblemDetails.Extensions["error"] = "Unprocessable Entity";
        problem.ProblemDetails.Extensions["code"] = "validation_errors";
        problem.ProblemDetails.Extensions["error_details"] = new Dictionary<string, string[]> { [field[(field.LastIndexOf('.') + 1)..]] = [code] };
        return problem;
    }

    private static IResult Json(JsonObject body) => Results.Text(body.ToJsonString(Lago), "application/json", statusCode: StatusCodes.Status200OK);
}
