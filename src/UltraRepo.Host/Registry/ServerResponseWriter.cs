using System.Globalization;
using System.Text.Json;
using UltraRepo.Domain.Pricing;
using UltraRepo.Domain.Registry;
using UltraRepo.Pricing;

namespace UltraRepo.Registry;

/// <summary>Marketplace data published under our own <c>_meta</c> key, next to the registry's official block.</summary>
public sealed record MarketplaceInfo(PricedPlan? Pricing, string? GatewayUrl);

/// <summary>
/// Writes ServerResponse objects (<c>{server, _meta}</c>) straight from the stored server.json text,
/// so listing pages never re-serialize documents.
/// </summary>
public static class ServerResponseWriter
{
    public const string MarketplaceMetaKey = "com.ultrarepo/marketplace";

    public static void WriteServer(Utf8JsonWriter writer, RegistryEntry entry, MarketplaceInfo? marketplace)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("server");
        writer.WriteRawValue(entry.ServerJson, skipInputValidation: true);
        writer.WriteStartObject("_meta");
        writer.WriteStartObject(ServerJsonSerializer.OfficialMetaKey);
        writer.WriteString("status", entry.Status);
        if (entry.StatusMessage is not null)
        {
            writer.WriteString("statusMessage", entry.StatusMessage);
        }

        writer.WriteString("statusChangedAt", Timestamp(entry.StatusChangedAt));
        writer.WriteString("publishedAt", Timestamp(entry.PublishedAt));
        writer.WriteString("updatedAt", Timestamp(entry.UpdatedAt));
        writer.WriteBoolean("isLatest", entry.IsLatest);
        writer.WriteEndObject();
        if (marketplace is not null)
        {
            writer.WriteStartObject(MarketplaceMetaKey);
            if (marketplace.Pricing is { } priced)
            {
                writer.WritePropertyName("pricing");
                JsonSerializer.Serialize(writer, PricingDocuments.ToDocument(priced.Plan), PricingDocuments.Json);
            }

            if (marketplace.GatewayUrl is not null)
            {
                writer.WriteString("gatewayUrl", marketplace.GatewayUrl);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>RFC 3339 in UTC with only the fractional digits needed, like Go's RFC3339Nano.</summary>
    public static string Timestamp(DateTime instant) =>
        instant.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}

/// <summary>An <see cref="IResult"/> that streams JSON written by a callback.</summary>
public sealed class JsonWriterResult(Action<Utf8JsonWriter> write, int statusCode = StatusCodes.Status200OK) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = statusCode;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        await using (var writer = new Utf8JsonWriter(httpContext.Response.BodyWriter, new JsonWriterOptions { Encoder = ServerJsonSerializer.Options.Encoder }))
        {
            write(writer);
        }

        await httpContext.Response.BodyWriter.FlushAsync(httpContext.RequestAborted);
    }
}
