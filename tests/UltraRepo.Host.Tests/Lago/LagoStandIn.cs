using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace UltraRepo.Host.Tests.Lago;

/// <summary>One call the stand-in answered, in arrival order.</summary>
public sealed record LagoRequest(string Method, string Path, string? Authorization, string? ContentType, JsonNode? Body, DateTime ArrivedAt, int Status);

/// <summary>
/// A local stand-in for Lago on its own Kestrel host (loopback, free port), speaking the slice of Lago's
/// API the sync uses, with Lago's shapes: <c>POST /api/v1/events/batch</c> (at most 100 events; when any event
/// fails, none is stored and a 422 names the failing ones by index, a transaction already stored failing with
/// <c>value_already_exist</c>, as Lago does with its PostgreSQL event store), billable metrics and plans by code.
/// It records every request and can be told to fail the next batch calls.
/// </summary>
public sealed class LagoStandIn : IAsyncDisposable
{
    public const string ApiKey = "lago-test-key-7f3a";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<JsonArray, IResult?>> _script = new();
    private readonly Lock _store = new();

    private LagoStandIn(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<LagoRequest> Requests { get; } = new();

    /// <summary>Stored events by transaction_id, exactly as received.</summary>
    public ConcurrentDictionary<string, JsonObject> Events { get; } = new();

    public ConcurrentDictionary<string, JsonObject> BillableMetrics { get; } = new();

    public ConcurrentDictionary<string, JsonObject> Plans { get; } = new();

    /// <summary>Transactions the stand-in finds invalid (a 422 naming them, like a bad timestamp would).</summary>
    public ConcurrentDictionary<string, bool> InvalidTransactions { get; } = new();

    public IEnumerable<LagoRequest> BatchCalls => Requests.Where(r => r.Path == "/api/v1/events/batch");

    /// <summary>The next <paramref name="count"/> batch calls answer <paramref name="status"/> without storing anything.</summary>
    public void FailNext(int count, int status, int? retryAfterSeconds = null)
    {
        for (var i = 0; i < count; i++)
        {
            _script.Enqueue(_ => Error(status, retryAfterSeconds));
        }
    }

    /// <summary>The next batch call stores its events, then answers <paramref name="status"/> (the answer is "lost").</summary>
    public void StoreThenFailNext(int status) => _script.Enqueue(events =>
    {
        if (Store(events) is { } refused)
        {
            return refused;
        }

        return Error(status, null);
    });

    public static async Task<LagoStandIn> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        // Nothing from the test process (environment, an appsettings.json) may configure this host.
        builder.Configuration.Sources.Clear();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new LagoStandIn(app);
        app.Use(standIn.RecordAsync);
        app.MapPost("/api/v1/events/batch", standIn.Batch);
        app.MapGet("/api/v1/billable_metrics/{code}", (string code) => standIn.BillableMetrics.TryGetValue(code, out var metric)
            ? Results.Json(new JsonObject { ["billable_metric"] = metric.DeepClone() })
            : NotFound("billable_metric"));
        app.MapPost("/api/v1/billable_metrics", standIn.CreateMetric);
        app.MapGet("/api/v1/plans/{code}", (string code) => standIn.Plans.TryGetValue(code, out var plan)
            ? Results.Json(new JsonObject { ["plan"] = plan.DeepClone() })
            : NotFound("plan"));
        app.MapPost("/api/v1/plans", (HttpRequest request) => standIn.SavePlanAsync(request, null));
        app.MapPut("/api/v1/plans/{code}", (string code, HttpRequest request) => standIn.SavePlanAsync(request, code));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        standIn.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return standIn;
    }

    /// <summary>Waits until Lago holds every one of these transactions.</summary>
    public async Task WaitForEventsAsync(IReadOnlyCollection<string> transactionIds, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!transactionIds.All(Events.ContainsKey))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Lago holds {transactionIds.Count(Events.ContainsKey)} of {transactionIds.Count} events after {BatchCalls.Count()} batch calls");
            }

            await Task.Delay(20);
        }
    }

    private async Task RecordAsync(HttpContext context, RequestDelegate next)
    {
        context.Request.EnableBuffering();
        var text = await new StreamReader(context.Request.Body).ReadToEndAsync();
        context.Request.Body.Position = 0;
        var arrived = DateTime.UtcNow;
        var authorization = context.Request.Headers.Authorization.ToString();
        // Recorded before the answer leaves, so a caller that has its answer finds its request here.
        context.Response.OnStarting(() =>
        {
            Requests.Enqueue(new LagoRequest(context.Request.Method, context.Request.Path.Value ?? "", authorization, context.Request.ContentType,
                text.Length == 0 ? null : JsonNode.Parse(text), arrived, context.Response.StatusCode));
            return Task.CompletedTask;
        });
        if (authorization != "Bearer " + ApiKey)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsJsonAsync(new JsonObject { ["status"] = 401, ["error"] = "Unauthorized" });
        }
        else
        {
            await next(context);
        }
    }

    private async Task<IResult> Batch(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        if (body?["events"] is not JsonArray events || events.Count == 0)
        {
            return Invalid(new JsonObject { ["events"] = new JsonArray("no_events") });
        }

        if (events.Count > 100)
        {
            return Invalid(new JsonObject { ["events"] = new JsonArray("too_many_events") });
        }

        if (_script.TryDequeue(out var planned) && planned(events) is { } answer)
        {
            return answer;
        }

        return Store(events) ?? Results.Json(new JsonObject { ["events"] = events.DeepClone() });
    }

    /// <summary>All or nothing, like Lago: null when stored, else the 422 naming the failing events.</summary>
    private IResult? Store(JsonArray events)
    {
        lock (_store)
        {
            var errors = new JsonObject();
            for (var i = 0; i < events.Count; i++)
            {
                var id = (string?)events[i]!["transaction_id"] ?? "";
                if (Events.ContainsKey(id))
                {
                    errors[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject { ["transaction_id"] = new JsonArray("value_already_exist") };
                }
                else if (InvalidTransactions.ContainsKey(id))
                {
                    errors[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject { ["timestamp"] = new JsonArray("invalid_format") };
                }
            }

            if (errors.Count > 0)
            {
                return Invalid(errors);
            }

            foreach (var e in events)
            {
                Events[(string)e!["transaction_id"]!] = (JsonObject)e.DeepClone();
            }

            return null;
        }
    }

    private async Task<IResult> CreateMetric(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        var metric = (JsonObject)body!["billable_metric"]!.DeepClone();
        var code = (string)metric["code"]!;
        if (BillableMetrics.ContainsKey(code))
        {
            return Invalid(new JsonObject { ["code"] = new JsonArray("value_already_exist") });
        }

        metric["lago_id"] = Guid.NewGuid().ToString();
        BillableMetrics[code] = metric;
        return Results.Json(new JsonObject { ["billable_metric"] = metric.DeepClone() });
    }

    private async Task<IResult> SavePlanAsync(HttpRequest request, string? code)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        var plan = (JsonObject)body!["plan"]!.DeepClone();
        code ??= (string)plan["code"]!;
        var existing = Plans.GetValueOrDefault(code);
        if ((existing is null) != (request.Method == "POST"))
        {
            return existing is null ? NotFound("plan") : Invalid(new JsonObject { ["code"] = new JsonArray("value_already_exist") });
        }

        plan["lago_id"] = (string?)existing?["lago_id"] ?? Guid.NewGuid().ToString();
        foreach (var charge in plan["charges"]!.AsArray().OfType<JsonObject>())
        {
            var metricId = (string)charge["billable_metric_id"]!;
            charge["lago_id"] = (string?)charge["id"] ?? Guid.NewGuid().ToString();
            charge.Remove("id");
            charge["lago_billable_metric_id"] = metricId;
            charge["billable_metric_code"] = BillableMetrics.Values.Single(m => (string?)m["lago_id"] == metricId)["code"]!.DeepClone();
        }

        Plans[code] = plan;
        return Results.Json(new JsonObject { ["plan"] = plan.DeepClone() });
    }

    private static IResult Error(int status, int? retryAfterSeconds) => new ErrorResult(status, retryAfterSeconds);

    private static IResult NotFound(string resource) =>
        Results.Json(new JsonObject { ["status"] = 404, ["error"] = "Not Found", ["code"] = resource + "_not_found" }, statusCode: 404);

    private static IResult Invalid(JsonObject details) =>
        Results.Json(new JsonObject { ["status"] = 422, ["error"] = "Unprocessable Entity", ["code"] = "validation_errors", ["error_details"] = details }, statusCode: 422);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class ErrorResult(int status, int? retryAfterSeconds) : IResult
    {
        public async Task ExecuteAsync(HttpContext context)
        {
            context.Response.StatusCode = status;
            if (retryAfterSeconds is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await context.Response.WriteAsJsonAsync(new JsonObject { ["status"] = status, ["error"] = Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) });
        }
    }
}
