using System.Buffers;
using System.Diagnostics;
using System.Text;
using UltraRepo.Domain.Metering;

namespace UltraRepo.Gateway;

/// <summary>Receives each JSON-RPC payload the upstream sends, after its bytes went to the client.</summary>
public interface IResponseObserver
{
    ValueTask OnMessageAsync(ReadOnlyMemory<byte> json, CancellationToken ct);
}

/// <summary>
/// Sits in place of the response body while the proxy copies the upstream response. Every write is
/// passed to the client first and observed after: SSE events are parsed as they pass and handed on one
/// by one; a JSON body is kept (up to a cap) and handed on at the end. The one thing held back, when the
/// caller asks (<c>holdSmallJson</c>), is a JSON body of known length up to <see cref="MaxHeldBytes"/>: the
/// client could not use part of it anyway, so it is sent whole, with its Content-Length, in one write when
/// the caller calls <see cref="ReleaseAsync"/> after recording the usage (instead of the body, then a last
/// chunk). For legacy SSE upstreams the first <c>endpoint</c> event is rewritten to point back at the gateway.
/// </summary>
public sealed class ResponseTapStream(
    Stream inner, HttpResponse response, IResponseObserver observer, Func<string, string>? rewriteEndpoint, ILogger logger, bool holdSmallJson = false) : Stream
{
    private const int MaxJsonBytes = 16 * 1024 * 1024;

    /// <summary>The largest JSON body held whole until the exchange is settled.</summary>
    public const int MaxHeldBytes = 64 * 1024;
    private readonly SseParser _sse = new();
    private readonly List<SseEvent> _events = [];
    private PooledBytes? _json;
    private ArrayBufferWriter<byte>? _heldForRewrite;
    private Mode _mode = Mode.Undecided;
    private long _observeTicks;
    private bool _awaitingEndpoint = rewriteEndpoint is not null;
    private bool _holding;

    private enum Mode
    {
        Undecided,
        Sse,
        Json,
        PassThrough,
    }

    /// <summary>Time spent parsing and counting (the gateway's own cost inside the response).</summary>
    public TimeSpan ObserveTime => Stopwatch.GetElapsedTime(0, _observeTicks);

    public bool SawJsonOverflow { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Whether a response is a JSON body small enough to hold whole (the transform keeps its Content-Length then).</summary>
    public static bool HoldsWhole(HttpResponse response) =>
        response.ContentLength is >= 0 and <= MaxHeldBytes && Decide(response.ContentType) == Mode.Json;

    public override void Flush()
    {
        if (!_holding)
        {
            inner.Flush();
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _holding ? Task.CompletedTask : inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_mode == Mode.Undecided)
        {
            _mode = Decide(response.ContentType);
            _holding = holdSmallJson && HoldsWhole(response);
        }

        if (_holding)
        {
            await ObserveAsync(buffer, cancellationToken);
            return;
        }

        if (_mode == Mode.Sse && _awaitingEndpoint)
        {
            await RewriteEndpointAsync(buffer, cancellationToken);
            return;
        }

        await inner.WriteAsync(buffer, cancellationToken);
        await ObserveAsync(buffer, cancellationToken);
    }

    /// <summary>Sends a held body (once); the caller has recorded the exchange's usage.</summary>
    public async ValueTask ReleaseAsync(CancellationToken ct)
    {
        if (_holding)
        {
            _holding = false;
            if (_json is { WrittenCount: > 0 })
            {
                await inner.WriteAsync(_json.WrittenMemory, ct);
            }
        }
    }

    /// <summary>End of the response: hands on a buffered JSON body.</summary>
    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        if (_heldForRewrite is { WrittenCount: > 0 })
        {
            // The stream ended before a complete first event: forward what was held, untouched.
            await inner.WriteAsync(_heldForRewrite.WrittenMemory, ct);
            _heldForRewrite = null;
        }

        if (_mode == Mode.Json && _json is { WrittenCount: > 0 })
        {
            var start = Stopwatch.GetTimestamp();
            await ObserveSafelyAsync(_json.WrittenMemory, ct);
            _observeTicks += Stopwatch.GetTimestamp() - start;
        }

        if (_mode == Mode.Sse)
        {
            _sse.Complete(static _ => { }); // the stream has ended: the parser's buffers go back to the pool
        }
    }

    private async ValueTask ObserveAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        switch (_mode)
        {
            case Mode.Sse:
                _events.Clear();
                _sse.Feed(buffer.Span, _events.Add);
                foreach (var e in _events)
                {
                    if (!e.Data.IsEmpty)
                    {
                        await ObserveSafelyAsync(e.Data, ct);
                    }
                }

                break;
            case Mode.Json:
                // Sized from a small Content-Length rather than doubled (and copied) up to it; a large one is not taken
                // on trust (the upstream could announce megabytes and send nothing), so a large body grows as it comes.
                _json ??= new PooledBytes(response.ContentLength is > 0 and <= MaxHeldBytes ? (int)response.ContentLength : 256);
                if (_json.WrittenCount + buffer.Length <= MaxJsonBytes)
                {
                    _json.Write(buffer.Span);
                }
                else
                {
                    SawJsonOverflow = true;
                }

                break;
        }

        _observeTicks += Stopwatch.GetTimestamp() - start;
    }

    // Holds bytes until the first SSE event is complete; if it is the legacy `endpoint` event its URL is
    // replaced by the gateway's, then everything flows through unchanged.
    private async ValueTask RewriteEndpointAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        _heldForRewrite ??= new ArrayBufferWriter<byte>();
        _heldForRewrite.Write(buffer.Span);
        var held = _heldForRewrite.WrittenMemory;
        var end = EndOfFirstEvent(held.Span);
        if (end < 0)
        {
            return;
        }

        _awaitingEndpoint = false;
        _heldForRewrite = null;
        var first = held[..end];
        var rest = held[end..];
        var parser = new SseParser();
        SseEvent? endpoint = null;
        parser.Feed(first.Span, e => endpoint ??= e);
        if (endpoint is { EventType: "endpoint" } && rewriteEndpoint is not null)
        {
            var rewritten = rewriteEndpoint(Encoding.UTF8.GetString(endpoint.Data.Span));
            var text = (endpoint.Id is null ? "" : $"id: {endpoint.Id}\n") + $"event: endpoint\ndata: {rewritten}\n\n";
            await inner.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        }
        else
        {
            await inner.WriteAsync(first, ct);
            await ObserveAsync(first, ct);
        }

        if (!rest.IsEmpty)
        {
            await inner.WriteAsync(rest, ct);
            await ObserveAsync(rest, ct);
        }
    }

    /// <summary>Metering must never break the consumer's stream: a failure is logged and the bytes keep flowing.</summary>
    private async ValueTask ObserveSafelyAsync(ReadOnlyMemory<byte> json, CancellationToken ct)
    {
        try
        {
            await observer.OnMessageAsync(json, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Metering an upstream message failed; the message was forwarded unmetered");
        }
    }

    private static int EndOfFirstEvent(ReadOnlySpan<byte> data)
    {
        for (var i = 0; i < data.Length - 1; i++)
        {
            if (data[i] == '\n' && data[i + 1] == '\n')
            {
                return i + 2;
            }

            if (data[i] == '\r' && data[i + 1] == '\n' && i + 3 < data.Length && data[i + 2] == '\r' && data[i + 3] == '\n')
            {
                return i + 4;
            }
        }

        return -1;
    }

    /// <summary>A buffered JSON body's bytes go back to the pool: call once the body was released (or never will be).</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _json?.Dispose();
            _json = null;
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// A growing byte buffer on <see cref="ArrayPool{T}"/> arrays (up to 1 MiB; a larger body, rare for an MCP answer,
    /// is kept in ordinary arrays so the pool does not hold on to them), returned on <see cref="Dispose"/>.
    /// </summary>
    private sealed class PooledBytes(int initialSize) : IDisposable
    {
        private const int MaxPooled = 1024 * 1024;
        private byte[] _array = Rent(initialSize);

        public int WrittenCount { get; private set; }

        public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, WrittenCount);

        public void Write(ReadOnlySpan<byte> data)
        {
            if (WrittenCount + data.Length > _array.Length)
            {
                var larger = Rent(Math.Max(_array.Length * 2, WrittenCount + data.Length));
                _array.AsSpan(0, WrittenCount).CopyTo(larger);
                Return(_array);
                _array = larger;
            }

            data.CopyTo(_array.AsSpan(WrittenCount));
            WrittenCount += data.Length;
        }

        public void Dispose()
        {
            Return(_array);
            _array = [];
            WrittenCount = 0;
        }

        private static byte[] Rent(int size) => size <= MaxPooled ? ArrayPool<byte>.Shared.Rent(size) : new byte[size];

        private static void Return(byte[] array)
        {
            if (array.Length is > 0 and <= MaxPooled)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }

    private static Mode Decide(string? contentType)
    {
        if (contentType is null)
        {
            return Mode.PassThrough;
        }

        if (contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            return Mode.Sse;
        }

        return contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ? Mode.Json : Mode.PassThrough;
    }
}
