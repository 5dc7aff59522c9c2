using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace UltraRepo.Benchmarks.Load;

/// <summary>
/// The cheapest possible MCP Streamable HTTP upstream, so the gateway's own cost is what the benchmark sees
/// (the official SDK's server costs far more per request than the gateway and would hide it). Any JSON-RPC
/// request gets a tools/call result of one text block of <c>?size=</c> bytes of prose, echoing its id:
/// <c>POST /mcp-json</c> as <c>application/json</c>, <c>POST /mcp-sse</c> as one SSE <c>message</c> event.
/// Notifications and responses (no id) get 202.
/// </summary>
internal sealed class FakeMcpUpstream : IAsyncDisposable
{
    private const int MaxSize = 4 * 1024 * 1024;
    private static readonly byte[] JsonHead = "{\"jsonrpc\":\"2.0\",\"id\":"u8.ToArray();
    private static readonly byte[] SseHead = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":"u8.ToArray();
    private readonly ConcurrentDictionary<int, (byte[] Json, byte[] Sse)> _tails = new();
    private readonly WebApplication _app;

    private FakeMcpUpstream(WebApplication app) => _app = app;

    public Uri BaseAddress => new(_app.Urls.First());

    public Uri JsonUrl(int size) => new(BaseAddress, $"/mcp-json?size={size}");

    public Uri SseUrl(int size) => new(BaseAddress, $"/mcp-sse?size={size}");

    public static async Task<FakeMcpUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        var upstream = new FakeMcpUpstream(app);
        app.MapPost("/mcp-json", http => upstream.AnswerAsync(http, sse: false));
        app.MapPost("/mcp-sse", http => upstream.AnswerAsync(http, sse: true));
        await app.StartAsync();
        return upstream;
    }

    /// <summary>The exact response body for a request with id <paramref name="id"/> (for checking what the gateway passes on).</summary>
    public byte[] ResponseFor(long id, int size, bool sse)
    {
        var tail = Tail(size);
        return [.. sse ? SseHead : JsonHead, .. Encoding.ASCII.GetBytes(id.ToString(CultureInfo.InvariantCulture)), .. sse ? tail.Sse : tail.Json];
    }

    private async Task AnswerAsync(HttpContext http, bool sse)
    {
        var size = int.TryParse(http.Request.Query["size"], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? Math.Clamp(s, 0, MaxSize) : 1024;
        var id = await ReadIdAsync(http.Request.BodyReader);
        if (id is null)
        {
            http.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        var head = sse ? SseHead : JsonHead;
        var tail = sse ? Tail(size).Sse : Tail(size).Json;
        var response = http.Response;
        if (sse)
        {
            // Chunked, like an SDK server's stream: the response ends after the event.
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
        }
        else
        {
            response.ContentType = "application/json";
            response.ContentLength = head.Length + id.Length + tail.Length;
        }

        var writer = response.BodyWriter;
        writer.Write(head);
        writer.Write(id);
        writer.Write(tail);
        await writer.FlushAsync();
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    /// <summary>The raw JSON of the top-level <c>id</c>, or null for a message without one.</summary>
    private static async Task<byte[]?> ReadIdAsync(PipeReader body)
    {
        while (true)
        {
            var read = await body.ReadAsync();
            if (!read.IsCompleted)
            {
                body.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                continue;
            }

            try
            {
                return FindId(read.Buffer);
            }
            catch (JsonException)
            {
                return null;
            }
            finally
            {
                body.AdvanceTo(read.Buffer.End);
            }
        }
    }

    private static byte[]? FindId(ReadOnlySequence<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isId = reader.ValueTextEquals("id"u8);
            reader.Read();
            if (isId)
            {
                return reader.TokenType switch
                {
                    JsonTokenType.Number => reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan.ToArray(),
                    JsonTokenType.String => JsonSerializer.SerializeToUtf8Bytes(reader.GetString()),
                    _ => null,
                };
            }

            reader.Skip();
        }

        return null;
    }

    private (byte[] Json, byte[] Sse) Tail(int size) => _tails.GetOrAdd(size, n =>
    {
        var json = Encoding.UTF8.GetBytes($$$""","result":{"content":[{"type":"text","text":"{{{Prose.JsonEscaped(n)}}}"}],"isError":false}}""");
        return (json, [.. json, .. "\n\n"u8]);
    });
}

/// <summary>English prose for results, so the gateway's tokenizer works on text like a real tool's output.</summary>
internal static class Prose
{
    private static readonly string[] Paragraphs =
    [
        "The quarterly review covered three areas: the migration of the billing service to the new cluster, the backlog of customer-reported defects, and the hiring plan for the second half of the year. Maria opened by noting that the migration finished two weeks ahead of schedule, although the final cut-over required an unplanned maintenance window on a Sunday night.",
        "Most of the defects reported since March trace back to a single change in how time zones are stored. Invoices generated near midnight were sometimes dated the following day, which confused customers in Asia and Australia. The fix is straightforward, but every affected invoice has to be checked by hand before it can be re-issued.",
        "Kenji asked whether the support team could get a simple dashboard showing which accounts were affected, and how many invoices each had. Priya agreed to build a first version by Friday, using the existing reporting database rather than querying production directly, so the dashboard cannot slow down the billing service.",
        "On hiring, the team has approval for two backend engineers and one designer. Interviews for the backend roles start next week; the designer role will be posted once the job description has been reviewed by the product group. Everyone agreed that the take-home exercise should be shorter, no more than two hours of work.",
        "Action items: Priya builds the affected-accounts dashboard by Friday. Maria writes the post-incident report for the Sunday maintenance window and shares it with the wider engineering group. Kenji drafts the customer email explaining the invoice dates, to be reviewed by legal before it goes out. The next review is scheduled for the first Monday of October.",
    ];

    /// <summary>Exactly <paramref name="bytes"/> bytes of JSON string content (ASCII, with <c>\n\n</c> between paragraphs).</summary>
    public static string JsonEscaped(int bytes)
    {
        var text = new StringBuilder(bytes + 512);
        for (var i = 0; text.Length < bytes; i++)
        {
            if (i > 0)
            {
                text.Append("\\n\\n");
            }

            text.Append(Paragraphs[i % Paragraphs.Length]);
        }

        text.Length = bytes;
        // Never end in the middle of an escape sequence.
        while (text.Length > 0 && text[^1] == '\\')
        {
            text[^1] = '.';
        }

        return text.ToString();
    }
}
