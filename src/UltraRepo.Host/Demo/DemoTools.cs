using System.ComponentModel;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace UltraRepo.Demo;

/// <summary>The demo MCP server's tools: small, deterministic text and JSON utilities.</summary>
[McpServerToolType]
public sealed class DemoTools
{
    public sealed record TextStatistics(int Characters, int Words, int Lines, int Sentences, IReadOnlyList<WordCount> TopWords);
    public sealed record WordCount(string Word, int Count);

    [McpServerTool(Name = "text_stats", ReadOnly = true, UseStructuredContent = true)]
    [Description("Counts characters, words, lines and sentences of a text and lists its most frequent words.")]
    public static TextStatistics TextStats([Description("The text to analyse")] string text, [Description("How many frequent words to list")] int top = 5)
    {
        var words = text.Split((char[])[' ', '\t', '\r', '\n', ',', '.', ';', ':', '!', '?', '(', ')', '"'], StringSplitOptions.RemoveEmptyEntries);
        var frequent = words
            .Select(w => w.ToLowerInvariant())
            .GroupBy(w => w)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Take(Math.Clamp(top, 0, 50))
            .Select(g => new WordCount(g.Key, g.Count()))
            .ToList();
        var sentences = text.Count(c => c is '.' or '!' or '?');
        var lines = text.Length == 0 ? 0 : text.Split('\n').Length;
        return new TextStatistics(text.Length, words.Length, lines, sentences, frequent);
    }

    [McpServerTool(Name = "format_json", ReadOnly = true)]
    [Description("Pretty-prints (or minifies) a JSON document and reports where it is malformed.")]
    public static string FormatJson([Description("The JSON text")] string json, [Description("true to minify instead of indenting")] bool minify = false)
    {
        try
        {
            var node = JsonNode.Parse(json);
            return node?.ToJsonString(new JsonSerializerOptions { WriteIndented = !minify }) ?? "null";
        }
        catch (JsonException e)
        {
            throw new McpException($"invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message}");
        }
    }

    [McpServerTool(Name = "hash_text", ReadOnly = true)]
    [Description("Returns the SHA-256 (or SHA-1 / MD5) of a text, hex encoded.")]
    public static string HashText([Description("The text to hash")] string text, [Description("sha256, sha1 or md5")] string algorithm = "sha256")
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var digest = algorithm.ToLowerInvariant() switch
        {
            "sha256" => SHA256.HashData(bytes),
#pragma warning disable CA5350, CA5351 // offered for checksums, not for security
            "sha1" => SHA1.HashData(bytes),
            "md5" => MD5.HashData(bytes),
#pragma warning restore CA5350, CA5351
            _ => throw new McpException($"unknown algorithm '{algorithm}'; use sha256, sha1 or md5"),
        };
        return Convert.ToHexStringLower(digest);
    }

    [McpServerTool(Name = "generate_text", ReadOnly = true)]
    [Description("Generates deterministic placeholder prose of about the requested number of words (handy for testing token metering).")]
    public static async Task<string> GenerateText(
        [Description("Number of words, 1 to 100000")] int words,
        IProgress<ProgressNotificationValue> progress,
        CancellationToken cancellationToken)
    {
        words = Math.Clamp(words, 1, 100_000);
        string[] vocabulary = ["model", "context", "protocol", "server", "token", "gateway", "stream", "request", "result", "tool", "prompt", "resource", "market", "meter", "invoice", "publisher", "consumer", "budget"];
        var text = new StringBuilder(words * 8);
        for (var i = 0; i < words; i++)
        {
            text.Append(vocabulary[(i * 7 + i / 5) % vocabulary.Length]).Append(i % 12 == 11 ? ". " : " ");
            if (i > 0 && i % 10_000 == 0)
            {
                progress.Report(new ProgressNotificationValue { Progress = i, Total = words, Message = "generating" });
                await Task.Yield();
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        progress.Report(new ProgressNotificationValue { Progress = words, Total = words, Message = "done" });
        return text.ToString().TrimEnd();
    }
}

[McpServerPromptType]
public sealed class DemoPrompts
{
    [McpServerPrompt(Name = "summarize"), Description("Asks the model to summarize a text in a given number of sentences.")]
    public static string Summarize([Description("The text")] string text, [Description("Sentences in the summary")] int sentences = 3) =>
        $"Summarize the following text in {sentences} sentences:\n\n{text}";
}

[McpServerResourceType]
public sealed class DemoResources
{
    [McpServerResource(UriTemplate = "demo://readme", Name = "readme", MimeType = "text/markdown")]
    [Description("What this demo server offers.")]
    public static string Readme() =>
        "# UltraRepo demo server\n\nTools: text_stats, format_json, hash_text, generate_text. Prompt: summarize.\n";
}
