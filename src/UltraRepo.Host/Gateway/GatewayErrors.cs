using System.Text.Json;

namespace UltraRepo.Gateway;

/// <summary>
/// JSON-RPC error codes the gateway itself answers with (the implementation-defined -32000..-32019
/// range), each with the HTTP status it goes with.
/// </summary>
public static class GatewayErrors
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;
    public const int Unauthorized = -32001;
    public const int Forbidden = -32003;
    public const int NotFound = -32004;
    public const int Limited = -32005;
    public const int UpstreamFailed = -32010;
    public const int UpstreamTimeout = -32011;
    public const int TooLarge = -32013;
    /// <summary>The listing's price list cannot rate the request (an amount beyond decimal): the publisher must fix it.</summary>
    public const int Unrateable = -32014;
    public const int HeaderMismatch = -32020;
    public const int Unavailable = -32012;

    private static readonly JsonSerializerOptions ErrorJson = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes <c>{"jsonrpc":"2.0","id":…,"error":{code,message,data}}</c> with the status, unless the response already started.</summary>
    public static async Task WriteAsync(HttpContext http, int status, int code, string message, string? idJson = null, object? data = null)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            Write(writer, code, message, idJson, data);
        }

        await http.Response.Body.WriteAsync(buffer.WrittenMemory);
    }

    private static void Write(Utf8JsonWriter writer, int code, string message, string? idJson, object? data)
    {
        writer.WriteStartObject();
        writer.WriteString("jsonrpc", "2.0");
        writer.WritePropertyName("id");
        if (idJson is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteRawValue(idJson);
        }

        writer.WriteStartObject("error");
        writer.WriteNumber("code", code);
        writer.WriteString("message", message);
        if (data is not null)
        {
            writer.WritePropertyName("data");
            JsonSerializer.Serialize(writer, data, ErrorJson);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}
