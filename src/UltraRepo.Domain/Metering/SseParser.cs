using System.Buffers;
using System.Text;

namespace UltraRepo.Domain.Metering;

/// <summary>One dispatched Server-Sent Event.</summary>
/// <param name="EventType">The <c>event</c> field; null when absent or empty (the default type, "message").</param>
/// <param name="Id">The last event ID as of this event (an <c>id</c> field sets it and it persists to later events, as in EventSource); null until the stream sets one.</param>
/// <param name="Data">
/// The UTF-8 data lines joined with '\n'. It points into the parser's buffer and stays valid only until the next call to
/// <see cref="SseParser.Feed"/> or <see cref="SseParser.Complete"/>: copy what you keep longer.
/// </param>
/// <param name="Retry">The reconnection time set by a <c>retry</c> field in this event's lines, if any.</param>
public sealed record SseEvent(string? EventType, string? Id, ReadOnlyMemory<byte> Data, int? Retry);

/// <summary>
/// Incremental <c>text/event-stream</c> parser following the WHATWG EventSource rules: chunks may split the stream anywhere
/// (inside a UTF-8 sequence, between '\r' and '\n'); lines end with "\n", "\r\n" or "\r"; a leading BOM is ignored.
/// Only the current incomplete line and event are carried from one chunk to the next.
/// </summary>
/// <remarks>
/// One deliberate difference from EventSource: an event with fields but no data (an MCP priming event carries only an
/// <c>id</c>) is dispatched with empty data instead of being dropped. Blank lines and comments alone dispatch nothing.
/// An event with a line, or data (its data lines plus a '\n' each), longer than the limit given to the constructor is
/// skipped whole and counted in <see cref="OversizedEvents"/>, so a hostile stream cannot make the parser buffer without
/// bound. Not thread-safe: one parser per stream.
/// </remarks>
public sealed class SseParser
{
    private const int InitialCapacity = 256;
    // After a large event, let the big buffer go rather than pin it for the rest of a long-lived stream.
    private const int RetainedCapacity = 64 * 1024;
    private static ReadOnlySpan<byte> Bom => "\uFEFF"u8;

    // Larger buffers than these two small ones are rented from the pool, and returned as soon as nothing points into them.
    private readonly byte[] _smallLine = new byte[InitialCapacity];
    private readonly byte[] _smallData = new byte[InitialCapacity];
    private byte[] _line;
    private int _lineLength;
    // Events dispatched during one Feed keep their data in _data[..eventStart]; the current event's data follows.
    private byte[] _data;
    // Buffers grown out of during a Feed while its events still point into them; returned at the next Feed.
    private List<byte[]>? _retired;
    private int _eventStart;
    private int _dataEnd;
    private string? _eventType;
    private int? _retry;
    private bool _hasFields;
    private bool _afterCarriageReturn;
    private int _bomBytesSeen;
    private bool _pastBom;
    private readonly int _maxEventBytes;
    private bool _skippingEvent;
    private bool _skippedLineHasBytes;

    /// <param name="maxEventBytes">The longest line, and the most data, an event may have; larger events are skipped.</param>
    public SseParser(int maxEventBytes = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEventBytes);
        _maxEventBytes = maxEventBytes;
        _line = _smallLine;
        _data = _smallData;
    }

    /// <summary>How many events were skipped for exceeding the size limit.</summary>
    public long OversizedEvents { get; private set; }

    /// <summary>The last event ID set by the stream (what a client sends as Last-Event-ID on reconnect).</summary>
    public string? LastEventId { get; private set; }

    public void Feed(ReadOnlySpan<byte> chunk, Action<SseEvent> onEvent)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        ReleaseDispatchedData();
        if (!_pastBom)
        {
            chunk = SkipBom(chunk);
        }

        if (_afterCarriageReturn && !chunk.IsEmpty)
        {
            _afterCarriageReturn = false;
            if (chunk[0] == (byte)'\n')
            {
                chunk = chunk[1..]; // the '\n' of a "\r\n" split across chunks
            }
        }

        while (!chunk.IsEmpty)
        {
            int end = chunk.IndexOfAny((byte)'\r', (byte)'\n');
            if (end < 0)
            {
                AppendLine(chunk);
                return;
            }

            if (_skippingEvent)
            {
                // An oversized event is skipped up to the blank line that ends it.
                bool blank = end == 0 && !_skippedLineHasBytes;
                _skippedLineHasBytes = false;
                _skippingEvent = !blank;
            }
            else if (_lineLength == 0)
            {
                if (end > _maxEventBytes)
                {
                    SkipEvent();
                }
                else
                {
                    ProcessLine(chunk[..end], onEvent); // the common case: a whole line inside the chunk, no copy
                }
            }
            else
            {
                AppendLine(chunk[..end]);
                if (!_skippingEvent)
                {
                    ProcessLine(_line.AsSpan(0, _lineLength), onEvent);
                }

                _lineLength = 0;
                _skippedLineHasBytes = false;
                ReleaseLine();
            }

            if (chunk[end] == (byte)'\r')
            {
                if (end + 1 == chunk.Length)
                {
                    _afterCarriageReturn = true;
                }
                else if (chunk[end + 1] == (byte)'\n')
                {
                    end++;
                }
            }

            chunk = chunk[(end + 1)..];
        }
    }

    /// <summary>
    /// End of stream: an event not terminated by a blank line is discarded, as the spec requires, so <paramref name="onEvent"/>
    /// is never called. The parser is then ready for a new stream (the last event ID is kept, as EventSource keeps it across reconnects);
    /// the data of events handed out before is no longer valid.
    /// </summary>
    public void Complete(Action<SseEvent> onEvent)
    {
        ArgumentNullException.ThrowIfNull(onEvent);
        _lineLength = 0;
        _eventStart = 0;
        _dataEnd = 0;
        ResetEventFields();
        _afterCarriageReturn = false;
        _bomBytesSeen = 0;
        _pastBom = false;
        _skippingEvent = false;
        _skippedLineHasBytes = false;
        ReleaseLine();
        ReturnRetired();
        if (_data != _smallData)
        {
            ArrayPool<byte>.Shared.Return(_data);
            _data = _smallData;
        }
    }

    private ReadOnlySpan<byte> SkipBom(ReadOnlySpan<byte> chunk)
    {
        // The BOM itself may arrive split across chunks.
        while (!chunk.IsEmpty && _bomBytesSeen < Bom.Length)
        {
            if (chunk[0] != Bom[_bomBytesSeen])
            {
                AppendLine(Bom[.._bomBytesSeen]); // not a BOM after all: those bytes are text
                _pastBom = true;
                return chunk;
            }

            _bomBytesSeen++;
            chunk = chunk[1..];
        }

        _pastBom = _bomBytesSeen == Bom.Length;
        return chunk;
    }

    private void ProcessLine(ReadOnlySpan<byte> line, Action<SseEvent> onEvent)
    {
        if (line.IsEmpty)
        {
            Dispatch(onEvent);
            return;
        }

        if (line[0] == (byte)':')
        {
            return; // comment, e.g. a keep-alive
        }

        int colon = line.IndexOf((byte)':');
        ReadOnlySpan<byte> field = colon < 0 ? line : line[..colon];
        ReadOnlySpan<byte> value = colon < 0 ? [] : line[(colon + 1)..];
        if (!value.IsEmpty && value[0] == (byte)' ')
        {
            value = value[1..];
        }

        if (field.SequenceEqual("data"u8))
        {
            AppendData(value);
            _hasFields = true;
        }
        else if (field.SequenceEqual("event"u8))
        {
            _eventType = value.IsEmpty ? null : Encoding.UTF8.GetString(value);
            _hasFields = true;
        }
        else if (field.SequenceEqual("id"u8))
        {
            if (!value.Contains((byte)0))
            {
                LastEventId = Encoding.UTF8.GetString(value);
                _hasFields = true;
            }
        }
        else if (field.SequenceEqual("retry"u8))
        {
            if (!value.IsEmpty && !value.ContainsAnyExceptInRange((byte)'0', (byte)'9') && int.TryParse(value, out int retry))
            {
                _retry = retry;
                _hasFields = true;
            }
        }
    }

    private void Dispatch(Action<SseEvent> onEvent)
    {
        if (_hasFields)
        {
            int length = _dataEnd - _eventStart;
            if (length > 0)
            {
                length--; // the '\n' after the last data line
            }

            onEvent(new SseEvent(_eventType, LastEventId, _data.AsMemory(_eventStart, length), _retry));
            _eventStart = _dataEnd; // keep this event's bytes until the next Feed
        }

        ResetEventFields();
    }

    private void ResetEventFields()
    {
        _eventType = null;
        _retry = null;
        _hasFields = false;
    }

    /// <summary>Events handed out by the previous Feed are no longer valid: reclaim their bytes.</summary>
    private void ReleaseDispatchedData()
    {
        ReturnRetired();
        if (_eventStart == 0)
        {
            return;
        }

        int pending = _dataEnd - _eventStart;
        if (_data != _smallData && (pending <= InitialCapacity || (_data.Length > RetainedCapacity && pending < RetainedCapacity / 2)))
        {
            // Back to the small buffer, or a smaller rented one, after a large event.
            var smaller = pending <= InitialCapacity ? _smallData : ArrayPool<byte>.Shared.Rent(pending * 2);
            _data.AsSpan(_eventStart, pending).CopyTo(smaller);
            ArrayPool<byte>.Shared.Return(_data);
            _data = smaller;
        }
        else
        {
            _data.AsSpan(_eventStart, pending).CopyTo(_data);
        }

        _eventStart = 0;
        _dataEnd = pending;
    }

    private void AppendData(ReadOnlySpan<byte> value)
    {
        if ((long)_dataEnd - _eventStart + value.Length + 1 > _maxEventBytes)
        {
            SkipEvent();
            return;
        }

        int needed = _dataEnd + value.Length + 1;
        if (needed > _data.Length)
        {
            // A new array: events already dispatched in this Feed still point into the old one.
            int pending = _dataEnd - _eventStart;
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_data.Length * 2, (pending + value.Length + 1) * 2));
            _data.AsSpan(_eventStart, pending).CopyTo(larger);
            if (_data != _smallData)
            {
                if (_eventStart == 0)
                {
                    ArrayPool<byte>.Shared.Return(_data);
                }
                else
                {
                    (_retired ??= []).Add(_data);
                }
            }

            _data = larger;
            _eventStart = 0;
            _dataEnd = pending;
        }

        value.CopyTo(_data.AsSpan(_dataEnd));
        _dataEnd += value.Length;
        _data[_dataEnd++] = (byte)'\n';
    }

    private void AppendLine(ReadOnlySpan<byte> bytes)
    {
        if (_skippingEvent)
        {
            _skippedLineHasBytes |= !bytes.IsEmpty;
            return;
        }

        if ((long)_lineLength + bytes.Length > _maxEventBytes)
        {
            SkipEvent();
            _skippedLineHasBytes = !bytes.IsEmpty || _skippedLineHasBytes;
            return;
        }

        if (_lineLength + bytes.Length > _line.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_line.Length * 2, _lineLength + bytes.Length));
            _line.AsSpan(0, _lineLength).CopyTo(larger);
            ReleaseLine();
            _line = larger;
        }

        bytes.CopyTo(_line.AsSpan(_lineLength));
        _lineLength += bytes.Length;
    }

    /// <summary>The line buffer never leaves the parser: a rented one goes back as soon as its line is processed.</summary>
    private void ReleaseLine()
    {
        if (_line != _smallLine)
        {
            ArrayPool<byte>.Shared.Return(_line);
            _line = _smallLine;
        }
    }

    private void ReturnRetired()
    {
        if (_retired is { Count: > 0 })
        {
            _retired.ForEach(buffer => ArrayPool<byte>.Shared.Return(buffer));
            _retired.Clear();
        }
    }

    private void SkipEvent()
    {
        _skippingEvent = true;
        _skippedLineHasBytes = _lineLength > 0;
        _lineLength = 0;
        _dataEnd = _eventStart;
        ResetEventFields();
        OversizedEvents++;
    }
}
