using System.ComponentModel;
using System.Text;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace UltraRepo.Host.Tests.Infrastructure;

/// <summary>The tools <see cref="UpstreamMcpServer"/> serves: one per gateway behaviour worth proving.</summary>
[McpServerToolType]
internal sealed class UpstreamTools
{
    [McpServerTool(Name = "echo"), Description("Returns the text unchanged.")]
    public static string Echo([Description("Text to return")] string text) => text;

    [McpServerTool(Name = "payload"), Description("Returns a text block of exactly `bytes` UTF-8 bytes of deterministic content.")]
    public static string Payload(
        [Description("Size of the text in UTF-8 bytes")] int bytes,
        [Description("prose, json or code")] string kind = "prose") => PayloadText.Create(bytes, kind);

    [McpServerTool(Name = "progress"), Description("Reports `steps` progress notifications, then returns \"done\".")]
    public static async Task<string> Progress(
        [Description("Number of progress notifications")] int steps,
        [Description("Delay before each notification, in milliseconds")] int delayMs,
        McpServer server,
        RequestContext<CallToolRequestParams> context,
        CancellationToken cancellationToken)
    {
        for (var step = 1; step <= steps; step++)
        {
            await Task.Delay(delayMs, cancellationToken);
            // Awaited on purpose: the SDK's IProgress<ProgressNotificationValue> sends fire-and-forget, so a report made
            // just before returning can lose the race with the response and never reach the client.
            if (context.Params?.ProgressToken is { } token)
            {
                await server.SendNotificationAsync(
                    NotificationMethods.ProgressNotification,
                    new ProgressNotificationParams
                    {
                        ProgressToken = token,
                        Progress = new ProgressNotificationValue { Progress = step, Total = steps, Message = $"step {step}" },
                    },
                    cancellationToken: cancellationToken);
            }
        }

        return "done";
    }

#pragma warning disable MCP9005 // Sampling is deprecated in the 2026-07-28 spec; the gateway must still relay it for 2025 clients.
    [McpServerTool(Name = "sample"), Description("Asks the client to sample a completion for the prompt and returns its text.")]
    public static async Task<string> Sample(McpServer server, [Description("Prompt to sample")] string prompt, CancellationToken cancellationToken)
    {
        var result = await server.SampleAsync(
            new CreateMessageRequestParams
            {
                MaxTokens = 100,
                Messages = [new SamplingMessage { Role = Role.User, Content = [new TextContentBlock { Text = prompt }] }],
            },
            cancellationToken);
        return string.Concat(result.Content.OfType<TextContentBlock>().Select(block => block.Text));
    }
#pragma warning restore MCP9005

    [McpServerTool(Name = "elicit"), Description("Asks the user a question through the client; returns \"accepted: <answer>\", \"declined\" or \"cancelled\".")]
    public static async Task<string> Elicit(McpServer server, [Description("Question to ask")] string question, CancellationToken cancellationToken)
    {
        var result = await server.ElicitAsync(
            new ElicitRequestParams
            {
                Message = question,
                RequestedSchema = new() { Properties = { ["answer"] = new ElicitRequestParams.StringSchema() } },
            },
            cancellationToken);
        return result.Action switch
        {
            "accept" => $"accepted: {(result.Content?.TryGetValue("answer", out var answer) == true ? answer.ToString() : "")}",
            "decline" => "declined",
            _ => "cancelled",
        };
    }

    [McpServerTool(Name = "slow"), Description("Waits, then returns \"slow done\".")]
    public static async Task<string> Slow([Description("Delay in milliseconds")] int delayMs, CancellationToken cancellationToken)
    {
        await Task.Delay(delayMs, cancellationToken);
        return "slow done";
    }

    [McpServerTool(Name = "fail"), Description("Always fails with the given message (an isError result).")]
    public static string Fail([Description("Error message")] string message) => throw new McpException(message);

    [McpServerTool(Name = "image"), Description("Returns a PNG-typed image block of `bytes` seeded pseudo-random bytes.")]
    public static ImageContentBlock Image([Description("Image size in bytes")] int bytes)
    {
        var data = new byte[bytes];
        new Random(bytes).NextBytes(data);
        ReadOnlySpan<byte> pngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        pngSignature[..Math.Min(bytes, pngSignature.Length)].CopyTo(data);
        return ImageContentBlock.FromBytes(data, "image/png");
    }

    [McpServerTool(Name = "structured", UseStructuredContent = true), Description("Weather for a city as structured content.")]
    public static UpstreamWeather Structured([Description("City name")] string city) => new(city, 21.5, "sunny");
}

public sealed record UpstreamWeather(string City, double TemperatureC, string Conditions);

[McpServerPromptType]
internal sealed class UpstreamPrompts
{
    [McpServerPrompt(Name = "greet"), Description("Greets someone by name.")]
    public static string Greet([Description("Who to greet")] string name) => $"Say hello to {name}.";
}

[McpServerResourceType]
internal sealed class UpstreamResources
{
    public const string ReadmeText = "UltraRepo upstream test server. Tools: echo, payload, progress, sample, elicit, slow, fail, image, structured.";

    [McpServerResource(UriTemplate = "test://readme", Name = "readme", MimeType = "text/plain"), Description("A short text resource.")]
    public static string Readme() => ReadmeText;
}

/// <summary>Deterministic ASCII text of an exact size, so UTF-8 byte count equals character count.</summary>
public static class PayloadText
{
    private const string Prose = "The quick brown fox jumps over the lazy dog while the gateway meters every byte. ";
    private const string Json = "{\"id\":12345,\"name\":\"widget\",\"tags\":[\"alpha\",\"beta\"],\"price\":9.99,\"active\":true},";
    private const string Code = "public static int Add(int left, int right)\n{\n    return left + right;\n}\n\n";

    public static string Create(int bytes, string kind)
    {
        var unit = kind switch
        {
            "prose" => Prose,
            "json" => Json,
            "code" => Code,
            _ => throw new McpException($"Unknown payload kind '{kind}'; use prose, json or code."),
        };
        if (bytes < 0)
        {
            throw new McpException("bytes must not be negative.");
        }

        var text = new StringBuilder(bytes);
        while (text.Length < bytes)
        {
            text.Append(unit, 0, Math.Min(unit.Length, bytes - text.Length));
        }

        return text.ToString();
    }
}
