using System.Reflection;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using UltraRepo.Domain.Metering;
using UltraRepo.Domain.Registry;

namespace UltraRepo.Benchmarks;

public enum PayloadKind
{
    /// <summary>Indented JSON (registry listings), as tools that return API data produce.</summary>
    Json,
    /// <summary>English prose.</summary>
    Prose,
    /// <summary>C# source code.</summary>
    Code,
}

/// <summary>
/// The metering hot path on one core: counting a tools/call result (one text block) with o200k_base.
/// Throughput = <see cref="PayloadBytes"/> ÷ mean time. Next to it, the library tokenizer alone on the same (unescaped) text.
/// </summary>
[MemoryDiagnoser]
[MinColumn] // on a shared machine the fastest run is the best estimate of what one free core does
public class TokenCountingBenchmarks
{
    // Escape like JSON.stringify and most MCP SDKs: quotes, backslashes and controls only.
    internal static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    internal const string ResultPrefix = """{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":""";
    internal const string ResultSuffix = "}]}}";
    private static readonly IReadOnlyDictionary<string, string> Methods = new Dictionary<string, string> { ["1"] = "tools/call" };

    private ITokenCounter _counter = null!;
    private Microsoft.ML.Tokenizers.Tokenizer _library = null!;
    private byte[] _message = [];
    private string _text = "";

    [Params(PayloadKind.Json, PayloadKind.Prose, PayloadKind.Code)]
    public PayloadKind Kind { get; set; }

    /// <summary>Size of the whole JSON-RPC message in bytes (the text is cut to fit).</summary>
    [Params(1024, 32768)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _counter = Tokenizers.Get(Tokenizers.O200kBase);
        _library = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding(Tokenizers.O200kBase);
        (_message, _text) = ToolResult(SourceText(Kind), PayloadBytes);
        if (McpTokenAccounting.CountBody(_message, MessageDirection.ServerToClient, _counter, Methods)[0].Tokens != _counter.CountTokens(_text))
        {
            throw new InvalidOperationException("the benchmark payload is not counted as a single text block");
        }
    }

    [Benchmark(Description = "CountBody (tools/call result)")]
    public long CountBody() => McpTokenAccounting.CountBody(_message, MessageDirection.ServerToClient, _counter, Methods)[0].Tokens;

    [Benchmark(Description = "Library CountTokens (text only)")]
    public int LibraryCountTokens() => _library.CountTokens(_text);

    private static string SourceText(PayloadKind kind) => kind switch
    {
        PayloadKind.Json => JsonSerializer.Serialize(ListingGenerator.Generate(200).ToArray(), new JsonSerializerOptions(ServerJsonSerializer.Options) { WriteIndented = true }),
        PayloadKind.Prose => Payload("prose.txt"),
        PayloadKind.Code => Payload("code.txt"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    internal static string Payload(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"UltraRepo.Benchmarks.Payloads.{name}")
            ?? throw new InvalidOperationException($"missing embedded payload {name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>A tools/call result whose single text block is the longest prefix of the (repeated) source that fits.</summary>
    internal static (byte[] Message, string Text) ToolResult(string source, int bytes)
    {
        var text = new StringBuilder();
        while (text.Length < bytes * 2)
        {
            text.Append(source);
        }

        string all = text.ToString();
        int low = 0, high = all.Length;
        while (low < high)
        {
            int mid = (low + high + 1) / 2;
            if (Encode(all[..mid]).Length <= bytes)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }

        if (low > 0 && char.IsHighSurrogate(all[low - 1]))
        {
            low--;
        }

        return (Encode(all[..low]), all[..low]);

        static byte[] Encode(string text) =>
            Encoding.UTF8.GetBytes(ResultPrefix + JsonSerializer.Serialize(text, Json) + ResultSuffix);
    }
}

/// <summary>The SSE side of the hot path: 32 KB of <c>text/event-stream</c> (events of ~3.6 KB carrying tools/call results) fed in 4 KB chunks.</summary>
[MemoryDiagnoser]
[MinColumn]
public class TokenCountingSseBenchmarks
{
    public const int StreamBytes = 32768;
    private readonly SseParser _sse = new();
    private byte[] _stream = [];
    private int _events;
    private int _expectedEvents;
    private Action<SseEvent> _onEvent = null!;

    [GlobalSetup]
    public void Setup()
    {
        (_stream, _expectedEvents) = SseStream(StreamBytes);
        _onEvent = _ => _events++;
        if (_stream.Length != StreamBytes || SseFeed() != _expectedEvents)
        {
            throw new InvalidOperationException($"the SSE stream is not {StreamBytes} bytes of {_expectedEvents} events");
        }
    }

    [Benchmark(Description = "SseParser.Feed (32 KB stream, 4 KB chunks)")]
    public int SseFeed()
    {
        _events = 0;
        ReadOnlySpan<byte> stream = _stream;
        for (int offset = 0; offset < stream.Length; offset += 4096)
        {
            _sse.Feed(stream.Slice(offset, Math.Min(4096, stream.Length - offset)), _onEvent);
        }

        return _events;
    }

    /// <summary>Whole events, then a comment padding to exactly <paramref name="bytes"/>, so every run leaves the parser empty.</summary>
    private static (byte[] Stream, int Events) SseStream(int bytes)
    {
        string prose = TokenCountingBenchmarks.Payload("prose.txt");
        var stream = new StringBuilder();
        int id = 0;
        for (; ; id++)
        {
            string text = prose.Substring(id * 500 % (prose.Length - 4000), 3500);
            string data = TokenCountingBenchmarks.ResultPrefix + JsonSerializer.Serialize(text, TokenCountingBenchmarks.Json) + TokenCountingBenchmarks.ResultSuffix;
            string sseEvent = $"id: {id}\nevent: message\ndata: {data}\n\n";
            if (Encoding.UTF8.GetByteCount(stream.ToString() + sseEvent) > bytes)
            {
                break;
            }

            stream.Append(sseEvent);
        }

        string padding = new(' ', bytes - Encoding.UTF8.GetByteCount(stream.ToString()) - 3);
        return (Encoding.UTF8.GetBytes(stream.Append(':').Append(padding).Append("\n\n").ToString()), id);
    }
}
