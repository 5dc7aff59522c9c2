using System.Text.Json;

namespace UltraRepo.Domain.Metering;

/// <summary>
/// Counts the tokens of MCP JSON-RPC payloads by the rules in docs/metering.md: what a model would read of each message,
/// unescaped, without the JSON-RPC envelope. Pure and allocation-light; never throws on bad input.
/// </summary>
public static class McpTokenAccounting
{
    private const int BytesPerBinaryToken = 128;

    private static readonly byte[][] MessageMembers = ["jsonrpc"u8.ToArray(), "method"u8.ToArray(), "id"u8.ToArray(), "params"u8.ToArray(), "result"u8.ToArray(), "error"u8.ToArray()];
    private static readonly byte[][] NameAndArguments = ["name"u8.ToArray(), "arguments"u8.ToArray()];
    private static readonly byte[][] NameAndUri = ["name"u8.ToArray(), "uri"u8.ToArray()];
    private static readonly byte[][] ErrorMembers = ["code"u8.ToArray(), "message"u8.ToArray(), "data"u8.ToArray()];
    private static readonly byte[][] ToolResultMembers = ["content"u8.ToArray(), "structuredContent"u8.ToArray(), "isError"u8.ToArray()];
    private static readonly byte[][] PromptResultMembers = ["description"u8.ToArray(), "messages"u8.ToArray()];
    private static readonly byte[][] ContentMember = ["content"u8.ToArray()];
    private static readonly byte[][] ContentsMember = ["contents"u8.ToArray()];
    private static readonly byte[][] BlockMembers = ["type"u8.ToArray(), "text"u8.ToArray(), "data"u8.ToArray(), "resource"u8.ToArray()];
    private static readonly byte[][] ResourceMembers = ["text"u8.ToArray(), "blob"u8.ToArray()];

    // Method names read without allocating a string each time; compared as UTF-8.
    private static readonly KnownString[] KnownMethods = KnownString.Of(
        McpMethods.ToolsCall, McpMethods.ToolsList, McpMethods.PromptsGet, McpMethods.PromptsList, McpMethods.ResourcesRead,
        McpMethods.ResourcesList, McpMethods.ResourcesTemplatesList, McpMethods.Initialize, "notifications/initialized", "ping",
        "notifications/progress", "notifications/message", "notifications/cancelled", "sampling/createMessage", "elicitation/create",
        "roots/list", "completion/complete", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
        "notifications/resources/updated", "notifications/resources/list_changed", "notifications/tools/list_changed",
        "notifications/prompts/list_changed", "notifications/roots/list_changed");

    /// <summary>
    /// Counts one JSON-RPC message or a batch (JSON array) of them, one entry per message in order.
    /// Invalid JSON, or a value that is no JSON-RPC 2.0 message, yields a single <see cref="JsonRpcKind.Invalid"/> entry with 0 tokens.
    /// </summary>
    /// <param name="requestMethodsById">For responses: the method of the request each response id answers, keyed by the raw id text (<see cref="JsonRpcInfo.Id"/>).</param>
    public static IReadOnlyList<MessageTokens> CountBody(ReadOnlySpan<byte> utf8Json, MessageDirection direction, ITokenCounter counter, IReadOnlyDictionary<string, string>? requestMethodsById = null)
    {
        ArgumentNullException.ThrowIfNull(counter);
        ReadOnlySpan<byte> json = WithoutBom(utf8Json);
        if (!JsonLayout.TryRead(json, out JsonLayout layout))
        {
            return [MessageTokens.Invalid];
        }

        try
        {
            var payload = new JsonPayload(json, layout, counter);
            if (layout.Root.Token == JsonTokenType.StartObject)
            {
                return [Count(payload, layout.Root, direction, requestMethod: null, requestMethodsById)];
            }

            var counted = new List<MessageTokens>();
            var messages = payload.Elements(layout.Root);
            while (messages.MoveNext(out JsonValueRef message))
            {
                counted.Add(Count(payload, message, direction, requestMethod: null, requestMethodsById));
            }

            return counted.Count > 0 ? counted : [MessageTokens.Invalid]; // an empty batch is invalid
        }
        finally
        {
            layout.Return();
        }
    }

    /// <summary>Counts one JSON-RPC message (a JSON object; anything else is <see cref="JsonRpcKind.Invalid"/>).</summary>
    /// <param name="requestMethod">For a response: the method of the request it answers, if known.</param>
    public static MessageTokens CountMessage(ReadOnlySpan<byte> utf8JsonObject, MessageDirection direction, ITokenCounter counter, string? requestMethod = null)
    {
        ArgumentNullException.ThrowIfNull(counter);
        ReadOnlySpan<byte> json = WithoutBom(utf8JsonObject);
        if (!JsonLayout.TryRead(json, out JsonLayout layout))
        {
            return MessageTokens.Invalid;
        }

        try
        {
            return layout.Root.Token == JsonTokenType.StartObject
                ? Count(new JsonPayload(json, layout, counter), layout.Root, direction, requestMethod, requestMethodsById: null)
                : MessageTokens.Invalid;
        }
        finally
        {
            layout.Return();
        }
    }

    /// <summary>
    /// Tokens for binary data given only its base64 length: one token per started 128 bytes of decoded data,
    /// taking the length as unpadded (decoded bytes = floor(length × 3 / 4)); 0 for empty data.
    /// </summary>
    public static long BinaryTokens(int base64Length) => BinaryTokens(base64Length, padding: 0);

    internal static long BinaryTokens(int base64Length, int padding)
    {
        long decodedBytes = Math.Max(0, base64Length * 3L / 4 - padding);
        return (decodedBytes + BytesPerBinaryToken - 1) / BytesPerBinaryToken;
    }

    private static ReadOnlySpan<byte> WithoutBom(ReadOnlySpan<byte> json) =>
        json.StartsWith("\uFEFF"u8) ? json[3..] : json;

    private static MessageTokens Count(JsonPayload payload, JsonValueRef message, MessageDirection direction, string? requestMethod, IReadOnlyDictionary<string, string>? requestMethodsById)
    {
        Span<JsonValueRef> m = stackalloc JsonValueRef[6];
        payload.FindMembers(message, MessageMembers, m);
        JsonValueRef version = m[0], method = m[1], id = m[2], @params = m[3], result = m[4], error = m[5];
        if (!payload.IsString(version, "2.0"u8))
        {
            return MessageTokens.Invalid;
        }

        string? idText = id.IsPresent ? payload.RawText(id) : null;
        if (method.IsPresent)
        {
            // JSON-RPC 2.0 §4.2: params, when present, are an object or an array (null is taken as absent).
            if (@params.Token is not (JsonTokenType.None or JsonTokenType.Null or JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                return MessageTokens.Invalid;
            }

            string? name = payload.GetString(method, KnownMethods);
            if (name is null)
            {
                return MessageTokens.Invalid;
            }

            var kind = id.IsPresent ? JsonRpcKind.Request : JsonRpcKind.Notification;
            long tokens = direction == MessageDirection.ClientToServer ? ClientRequestTokens(payload, name, @params) : payload.Raw(@params);
            return new MessageTokens(new JsonRpcInfo(kind, name, idText, TargetOf(payload, name, @params), false, null, null), tokens);
        }

        if (!result.IsPresent && !error.IsPresent)
        {
            return MessageTokens.Invalid;
        }

        string? answers = requestMethod;
        if (answers is null && idText is not null && requestMethodsById is not null)
        {
            requestMethodsById.TryGetValue(idText, out answers);
        }

        if (error.IsPresent)
        {
            return ErrorResponse(payload, error, answers, idText);
        }

        if (direction == MessageDirection.ClientToServer)
        {
            var info = new JsonRpcInfo(JsonRpcKind.Response, answers, idText, null, false, null, null);
            return new MessageTokens(info, ClientResultTokens(payload, result));
        }

        long output = ServerResultTokens(payload, answers, result, out bool toolError);
        return new MessageTokens(new JsonRpcInfo(JsonRpcKind.Response, answers, idText, null, false, null, null) { IsToolError = toolError }, output);
    }

    private static long ClientRequestTokens(JsonPayload payload, string method, JsonValueRef @params)
    {
        if (@params.Token != JsonTokenType.StartObject)
        {
            return payload.Raw(@params);
        }

        switch (method)
        {
            case McpMethods.ToolsCall or McpMethods.PromptsGet:
                Span<JsonValueRef> call = stackalloc JsonValueRef[2];
                payload.FindMembers(@params, NameAndArguments, call);
                return payload.Text(call[0]) + payload.Raw(call[1]);
            case McpMethods.ResourcesRead:
                Span<JsonValueRef> read = stackalloc JsonValueRef[2];
                payload.FindMembers(@params, NameAndUri, read);
                return payload.Text(read[1]);
            default:
                return payload.Raw(@params);
        }
    }

    private static string? TargetOf(JsonPayload payload, string method, JsonValueRef @params)
    {
        if (method is not (McpMethods.ToolsCall or McpMethods.PromptsGet or McpMethods.ResourcesRead))
        {
            return null;
        }

        Span<JsonValueRef> members = stackalloc JsonValueRef[2];
        payload.FindMembers(@params, NameAndUri, members);
        return payload.GetString(method == McpMethods.ResourcesRead ? members[1] : members[0]);
    }

    private static MessageTokens ErrorResponse(JsonPayload payload, JsonValueRef error, string? answers, string? idText)
    {
        Span<JsonValueRef> e = stackalloc JsonValueRef[3];
        payload.FindMembers(error, ErrorMembers, e);
        long tokens = error.Token == JsonTokenType.StartObject ? payload.Text(e[1]) + payload.Raw(e[2]) : payload.Text(error);
        var info = new JsonRpcInfo(JsonRpcKind.Response, answers, idText, null, true, payload.GetInt32(e[0]), payload.GetString(e[1]));
        return new MessageTokens(info, tokens);
    }

    // A client answers server requests (sampling, elicitation, roots): sampling results carry model content.
    private static long ClientResultTokens(JsonPayload payload, JsonValueRef result)
    {
        Span<JsonValueRef> content = stackalloc JsonValueRef[1];
        payload.FindMembers(result, ContentMember, content);
        return content[0].IsPresent ? ContentBlocks(payload, content[0], out _) : payload.Raw(result);
    }

    private static long ServerResultTokens(JsonPayload payload, string? answers, JsonValueRef result, out bool toolError)
    {
        toolError = false;
        if (result.Token != JsonTokenType.StartObject)
        {
            return payload.Raw(result);
        }

        switch (answers)
        {
            case McpMethods.ToolsCall:
                Span<JsonValueRef> tool = stackalloc JsonValueRef[3];
                payload.FindMembers(result, ToolResultMembers, tool);
                toolError = payload.IsTrue(tool[2]);
                long content = ContentBlocks(payload, tool[0], out bool hasText);
                // SDKs serialise structured output into a text block too; count it once.
                return hasText ? content : content + payload.Raw(tool[1]);
            case McpMethods.PromptsGet:
                Span<JsonValueRef> prompt = stackalloc JsonValueRef[2];
                payload.FindMembers(result, PromptResultMembers, prompt);
                return payload.Text(prompt[0]) + PromptMessages(payload, prompt[1]);
            case McpMethods.ResourcesRead:
                Span<JsonValueRef> contents = stackalloc JsonValueRef[1];
                payload.FindMembers(result, ContentsMember, contents);
                return ResourceContents(payload, contents[0]);
            default:
                return payload.Raw(result);
        }
    }

    private static long PromptMessages(JsonPayload payload, JsonValueRef messages)
    {
        if (messages.Token != JsonTokenType.StartArray)
        {
            return payload.Raw(messages);
        }

        long tokens = 0;
        Span<JsonValueRef> content = stackalloc JsonValueRef[1];
        var elements = payload.Elements(messages);
        while (elements.MoveNext(out JsonValueRef message))
        {
            if (message.Token != JsonTokenType.StartObject)
            {
                tokens += payload.Raw(message);
                continue;
            }

            payload.FindMembers(message, ContentMember, content);
            tokens += ContentBlocks(payload, content[0], out _);
        }

        return tokens;
    }

    private static long ResourceContents(JsonPayload payload, JsonValueRef contents)
    {
        if (contents.Token != JsonTokenType.StartArray)
        {
            return ResourceBody(payload, contents);
        }

        long tokens = 0;
        var elements = payload.Elements(contents);
        while (elements.MoveNext(out JsonValueRef item))
        {
            tokens += ResourceBody(payload, item);
        }

        return tokens;
    }

    /// <summary>A resource's contents (in resources/read or embedded in a content block): its text or its blob.</summary>
    private static long ResourceBody(JsonPayload payload, JsonValueRef resource)
    {
        Span<JsonValueRef> r = stackalloc JsonValueRef[2];
        payload.FindMembers(resource, ResourceMembers, r);
        return r[0].IsPresent || r[1].IsPresent ? payload.Text(r[0]) + payload.Binary(r[1]) : payload.Raw(resource);
    }

    /// <summary>A content block or an array of them; reports whether any block is a text block.</summary>
    private static long ContentBlocks(JsonPayload payload, JsonValueRef content, out bool hasText)
    {
        hasText = false;
        if (content.Token != JsonTokenType.StartArray)
        {
            return content.Token == JsonTokenType.StartObject ? ContentBlock(payload, content, ref hasText) : payload.Text(content);
        }

        long tokens = 0;
        var elements = payload.Elements(content);
        while (elements.MoveNext(out JsonValueRef block))
        {
            tokens += ContentBlock(payload, block, ref hasText);
        }

        return tokens;
    }

    private static long ContentBlock(JsonPayload payload, JsonValueRef block, ref bool hasText)
    {
        Span<JsonValueRef> b = stackalloc JsonValueRef[4];
        payload.FindMembers(block, BlockMembers, b);
        JsonValueRef type = b[0];
        if (payload.IsString(type, "text"u8))
        {
            hasText = true;
            return payload.Text(b[1]);
        }

        if (payload.IsString(type, "image"u8) || payload.IsString(type, "audio"u8))
        {
            return payload.Binary(b[2]);
        }

        if (payload.IsString(type, "resource"u8))
        {
            return ResourceBody(payload, b[3]);
        }

        return payload.Raw(block); // resource_link and unknown types: the model reads the block as JSON
    }
}
