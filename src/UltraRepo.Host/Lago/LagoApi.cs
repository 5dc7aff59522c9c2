using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using UltraRepo.Accounts;
using UltraRepo.Http;

namespace UltraRepo.Lago;

public static class LagoApi
{
    public static IEndpointRouteBuilder MapLagoApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin/lago").WithTags("Admin").RequireAuthorization(AdminApi.AdminPolicy);
        admin.MapPost("/plans/{serverName}", ExportPlan);
        return app;
    }

    /// <summary><see cref="Action"/> is "created" or "updated"; the other fields are Lago's answers as it sent them.</summary>
    public sealed record PlanExportResponse(string ServerName, string PlanCode, string Action, JsonNode? BillableMetric, JsonNode? Plan);

    /// <summary>Exports the listing's current usage pricing as a Lago plan (the name URL-encoded: <c>io.example%2Fserver</c>).</summary>
    private static async Task<Results<Ok<PlanExportResponse>, ProblemHttpResult>> ExportPlan(string serverName, [FromServices] LagoPlanExport? export, CancellationToken ct)
    {
        if (export is null)
        {
            return Problems.NotFound("the Lago sync is off: set Lago:ApiUrl and Lago:ApiKey to export plans to Lago");
        }

        var name = Uri.UnescapeDataString(serverName);
        var (exported, failure) = await export.ExportAsync(name, ct);
        if (failure is not null)
        {
            var problem = Problems.Create(failure.Status, failure.Status switch
            {
                StatusCodes.Status404NotFound => "Not Found",
                StatusCodes.Status409Conflict => "Conflict",
                _ => "Bad Gateway",
            }, failure.Detail, []);
            if (failure.Lago is not null)
            {
                problem.ProblemDetails.Extensions["lago"] = failure.Lago;
            }

            return problem;
        }

        return TypedResults.Ok(new PlanExportResponse(name, exported!.PlanCode, exported.Created ? "created" : "updated", exported.BillableMetric, exported.Plan));
    }
}
