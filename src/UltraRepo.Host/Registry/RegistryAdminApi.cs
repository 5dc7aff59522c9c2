using Microsoft.AspNetCore.Http.HttpResults;
using UltraRepo.Accounts;
using UltraRepo.Http;

namespace UltraRepo.Registry;

public static class RegistryAdminApi
{
    public static IEndpointRouteBuilder MapRegistryAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/admin/registry").WithTags("Admin").RequireAuthorization(AdminApi.AdminPolicy);
        admin.MapPost("/import", Import);
        return app;
    }

    /// <summary>
    /// Imports either the posted list response (<c>{servers:[...]}</c>) or, with <c>?url=</c>, every page
    /// of an upstream registry's <c>/v0.1/servers</c>.
    /// </summary>
    private static async Task<Results<Ok<ImportReport>, ProblemHttpResult>> Import(HttpRequest request, RegistryImporter importer, CancellationToken ct, string? url = null)
    {
        try
        {
            if (url is not null)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var upstream) || (upstream.Scheme != Uri.UriSchemeHttps && upstream.Scheme != Uri.UriSchemeHttp))
                {
                    return Problems.Validation("query.url", "url must be an absolute http(s) URL of a registry", url);
                }

                return TypedResults.Ok(await importer.ImportFromUpstreamAsync(upstream, ct));
            }

            return TypedResults.Ok(await importer.ImportAsync(request.Body, ct));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            return Problems.Validation("body", e.Message);
        }
        catch (HttpRequestException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "Bad Gateway", $"the upstream registry failed: {e.Message}", []);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return Problems.Create(StatusCodes.Status504GatewayTimeout, "Gateway Timeout", $"the upstream registry did not answer within {RegistryImporter.PageTimeout.TotalSeconds:0} s", []);
        }
    }
}
