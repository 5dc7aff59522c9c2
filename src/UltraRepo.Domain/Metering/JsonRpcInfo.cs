namespace UltraRepo.Domain.Metering;

public enum JsonRpcKind { Request, Notification, Response, Invalid }

public enum MessageDirection { ClientToServer, ServerToClient }

/// <summary>What one JSON-RPC message is, as far as metering needs to know.</summary>
/// <param name="Method">The request or notification method; for a response, the method of the request it answers when known.</param>
/// <param name="Id">The raw JSON text of <c>id</c> (<c>1</c>, <c>"abc"</c>), null when absent. Use it verbatim as a key.</param>
/// <param name="Target">The tool or prompt name (<c>params.name</c>) of <c>tools/call</c> and <c>prompts/get</c>, the <c>params.uri</c> of <c>resources/read</c>.</param>
/// <param name="IsError">A JSON-RPC error response.</param>
public sealed record JsonRpcInfo(JsonRpcKind Kind, string? Method, string? Id, string? Target, bool IsError, int? ErrorCode, string? ErrorMessage)
{
    /// <summary>A <c>tools/call</c> result with <c>isError: true</c>: the tool ran and reported a failure (not a JSON-RPC error).</summary>
    public bool IsToolError { get; init; }

    internal static readonly JsonRpcInfo Invalid = new(JsonRpcKind.Invalid, null, null, null, false, null, null);
}

/// <summary>One message and the tokens it is metered for (input tokens client to server, output tokens server to client).</summary>
public readonly record struct MessageTokens(JsonRpcInfo Info, long Tokens)
{
    internal static readonly MessageTokens Invalid = new(JsonRpcInfo.Invalid, 0);
}

/// <summary>The MCP methods whose payloads have a shape the counting rules look into.</summary>
public static class McpMethods
{
    public const string Initialize = "initialize";
    public const string ToolsCall = "tools/call";
    public const string ToolsList = "tools/list";
    public const string PromptsGet = "prompts/get";
    public const string PromptsList = "prompts/list";
    public const string ResourcesRead = "resources/read";
    public const string ResourcesList = "resources/list";
    public const string ResourcesTemplatesList = "resources/templates/list";
}
