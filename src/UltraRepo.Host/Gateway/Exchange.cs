using UltraRepo.Domain.Metering;

namespace UltraRepo.Gateway;

/// <summary>One JSON-RPC exchange through the gateway: a client message and what came back for it.</summary>
public sealed class Exchange(JsonRpcInfo request, long inputTokens)
{
    public JsonRpcInfo Request { get; } = request;
    public long InputTokens { get; } = inputTokens;
    public long OutputTokens { get; set; }
    public bool Answered { get; set; }
    public bool AnsweredWithError { get; set; }

    /// <summary>Requests wait for a response; notifications and client responses complete on acceptance.</summary>
    public bool ExpectsResponse => Request.Kind == JsonRpcKind.Request;

    public string Method => Request.Kind == JsonRpcKind.Response ? "response" : Request.Method ?? "unknown";
}
