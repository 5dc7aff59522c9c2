using System.Buffers;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Microsoft.Win32.SafeHandles;

namespace UltraRepo.Metering.Spool;

public sealed class SpoolOptions
{
    /// <summary>This node's spool folder (local disk; one per node).</summary>
    public string Directory { get; set; } = "./data/spool";

    /// <summary>A segment is closed and a new one started past this size.</summary>
    public long SegmentBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Wait for the disk (fsync) before acknowledging an append. Off by default: appends are acknowledged
    /// once written to the operating system (they survive a crash of the process), and the disk is synced
    /// every <see cref="SyncInterval"/> (a machine crash can lose at most that much).
    /// </summary>
    public bool SyncEachCommit { get; set; }

    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMilliseconds(20);
}

/// <summary>Where the shipper has got to: everything before (segment, offset) is in the database.</summary>
public readonly record struct SpoolPosition(long Segment, long Offset) : IComparable<SpoolPosition>
{
    public int CompareTo(SpoolPosition other) => Segment != other.Segment ? Segment.CompareTo(other.Segment) : Offset.CompareTo(other.Offset);

    public static bool operator <(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) < 0;

    public static bool operator >(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) > 0;

    public static bool operator <=(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) <= 0;

    public static bool operator >=(SpoolPosition a, SpoolPosition b) => a.CompareTo(b) >= 0;
}

/// <summary>
/// The gateway's write-ahead log of usage events: append-only segment files under the node's spool folder.
/// Requests append through a single writer that commits everything queued in one write (group commit);
/// an append completes when its bytes are in the file. The shipper reads from its checkpoint onwards and
/// moves batches to the database; on start, a torn tail left by a crash is cut off and everything after
/// the checkpoint is shipped again (the database ignores events it already has).
/// </summary>
public sealed class UsageSpool : IAsyncDisposable, IUsageSink
{
    private const string Extension = ".seg";
    private const long ReadChunk = 4 * 1024 * 1024;
    private readonly SpoolOptions _options;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _fileLock = new();
    private readonly Task _writer;
    private readonly Timer _syncTimer;
    private SafeFileHandle _handle = null!;
    private long _segment;
    private long _length;
    private bool _dirty;
    private long _appended;
    private long _corruptSkips;
    private readonly SemaphoreSlim _appendedSignal = new(0);

    /// <summary>Per thread, for records written in line (<see cref="RecordAsync"/> without per-commit syncs).</summary>
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    public UsageSpool(IOptions<SpoolOptions> options)
    {
        _options = options.Value;
        System.IO.Directory.CreateDirectory(_options.Directory);
        Recover();
        _writer = Task.Run(WriteLoopAsync);
        _syncTimer = new Timer(_ => SyncIfDirty(), null, _options.SyncInterval, _options.SyncInterval);
    }

    public string Folder => _options.Directory;

    /// <summary>The position right after the last committed record.</summary>
    public SpoolPosition Head
    {
        get
        {
            lock (_fileLock)
            {
                return new SpoolPosition(_segment, _length);
            }
        }
    }

    public long Appended => Interlocked.Read(ref _appended);

    /// <summary>Closed segments whose damaged rest had to be skipped (should stay 0).</summary>
    public long CorruptSkips => Interlocked.Read(ref _corruptSkips);

    /// <summary>Waits until something is appended (or the timeout passes).</summary>
    public Task WaitForAppendAsync(TimeSpan timeout, CancellationToken ct) => _appendedSignal.WaitAsync(timeout, ct);

    /// <summary>
    /// Appends the event and returns once it is written to the operating system (or, with
    /// <see cref="SpoolOptions.SyncEachCommit"/>, to the disk). Without per-commit syncs the caller writes its own
    /// record under the file lock (one short write, no thread hop); with them, callers queue for the writer loop,
    /// which commits everything waiting with a single sync.
    /// </summary>
    public ValueTask RecordAsync(UsageEvent usage, CancellationToken ct)
    {
        if (_options.SyncEachCommit)
        {
            return RecordGroupCommitAsync(usage, ct);
        }

        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        SpoolRecords.Write(buffer, usage);
        Append(buffer.WrittenSpan, 1);
        return ValueTask.CompletedTask;
    }

    /// <summary>Appends several events with one write (or, with per-commit syncs, one group commit).</summary>
    public async ValueTask RecordManyAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        if (_options.SyncEachCommit)
        {
            await Task.WhenAll(events.Select(e => RecordGroupCommitAsync(e, ct).AsTask()));
            return;
        }

        var buffer = new ArrayBufferWriter<byte>(Math.Max(256, events.Count * 512));
        foreach (var usage in events)
        {
            SpoolRecords.Write(buffer, usage);
        }

        if (events.Count > 0)
        {
            Append(buffer.WrittenSpan, events.Count);
        }
    }

    private async ValueTask RecordGroupCommitAsync(UsageEvent usage, CancellationToken ct)
    {
        var pending = new Pending(usage);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("the usage spool is closed");
        }

        await pending.Done.Task.WaitAsync(ct);
    }

    /// <summary>Reads committed records from <paramref name="from"/>, up to <paramref name="max"/> of them.</summary>
    public (List<UsageEvent> Events, SpoolPosition Next) Read(SpoolPosition from, int max)
    {
        var events = new List<UsageEvent>();
        var position = from;
        var head = Head;
        while (events.Count < max && position.CompareTo(head) < 0)
        {
            var path = SegmentPath(position.Segment);
            if (!File.Exists(path))
            {
                // A segment fully shipped and deleted, or never written: move on to the next.
                position = new SpoolPosition(position.Segment + 1, 0);
                continue;
            }

            var end = position.Segment == head.Segment ? head.Offset : new FileInfo(path).Length;
            if (position.Offset >= end)
            {
                if (position.Segment == head.Segment)
                {
                    break;
                }

                position = new SpoolPosition(position.Segment + 1, 0);
                continue;
            }

            // At most 4 MiB at a time; a record cut by the chunk is read whole next time.
            var buffer = ReadRange(path, position.Offset, Math.Min(end, position.Offset + ReadChunk));
            var offset = 0;
            var corrupt = false;
            while (events.Count < max && SpoolRecords.TryRead(buffer.AsSpan(offset), out var usage, out var consumed, out corrupt))
            {
                events.Add(usage!);
                offset += consumed;
            }

            // In a closed segment nothing will ever be appended, so a record that cannot be read whole is damaged.
            if (offset == 0 && (corrupt || position.Segment < head.Segment))
            {
                // Damage inside a closed segment (the torn tail of the open one is cut at start): the rest of
                // that segment cannot be read, so it is skipped and counted.
                Interlocked.Increment(ref _corruptSkips);
                position = new SpoolPosition(position.Segment + 1, 0);
                continue;
            }

            position = new SpoolPosition(position.Segment, position.Offset + offset);
            if (offset == 0)
            {
                break;
            }
        }

        return (events, position);
    }

    /// <summary>Deletes segments that lie wholly before the shipped position.</summary>
    public void DeleteShipped(SpoolPosition shipped)
    {
        foreach (var segment in Segments().Where(s => s < shipped.Segment))
        {
            File.Delete(SegmentPath(segment));
        }
    }

    /// <summary>Bytes appended but not yet shipped past <paramref name="shipped"/>.</summary>
    public long BytesAfter(SpoolPosition shipped)
    {
        var head = Head;
        long total = 0;
        foreach (var segment in Segments().Where(s => s >= shipped.Segment))
        {
            var length = segment == head.Segment ? head.Offset : new FileInfo(SegmentPath(segment)).Length;
            total += segment == shipped.Segment ? Math.Max(0, length - shipped.Offset) : length;
        }

        return total;
    }

    public SpoolPosition LoadCheckpoint()
    {
        var path = Path.Combine(_options.Directory, "checkpoint");
        if (!File.Exists(path))
        {
            return new SpoolPosition(Segments().DefaultIfEmpty(0).Min(), 0);
        }

        var parts = File.ReadAllText(path).Split(' ');
        var saved = new SpoolPosition(long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
        // After a machine crash the checkpoint (synced) can be ahead of the segment's recovered end (whose last
        // appends were not): new appends start at the head, so shipping must too.
        var head = Head;
        return saved > head ? head : saved;
    }

    /// <summary>Counts committed records after a position by reading only their headers.</summary>
    public long CountAfter(SpoolPosition from)
    {
        long count = 0;
        var position = from;
        while (true)
        {
            var counted = CountChunk(position, out var next);
            if (counted == 0 && next == position)
            {
                return count;
            }

            count += counted;
            position = next;
        }
    }

    private long CountChunk(SpoolPosition from, out SpoolPosition next)
    {
        var head = Head;
        next = from;
        if (from.CompareTo(head) >= 0)
        {
            return 0;
        }

        var path = SegmentPath(from.Segment);
        if (!File.Exists(path))
        {
            next = new SpoolPosition(from.Segment + 1, 0);
            return 0;
        }

        var end = from.Segment == head.Segment ? head.Offset : new FileInfo(path).Length;
        if (from.Offset >= end)
        {
            next = from.Segment == head.Segment ? from : new SpoolPosition(from.Segment + 1, 0);
            return 0;
        }

        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> header = stackalloc byte[SpoolRecords.HeaderSize];
        long offset = from.Offset;
        long count = 0;
        while (offset + SpoolRecords.HeaderSize <= end && RandomAccess.Read(handle, header, offset) == SpoolRecords.HeaderSize)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(header);
            if (length <= 0 || offset + SpoolRecords.HeaderSize + length > end)
            {
                break;
            }

            offset += SpoolRecords.HeaderSize + length;
            count++;
        }

        next = offset == from.Offset && from.Segment != head.Segment ? new SpoolPosition(from.Segment + 1, 0) : new SpoolPosition(from.Segment, offset);
        return count;
    }

    /// <summary>Written to a temporary file, synced and renamed, so a crash leaves the old or the new checkpoint.</summary>
    public void SaveCheckpoint(SpoolPosition position)
    {
        var path = Path.Combine(_options.Directory, "checkpoint");
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes($"{position.Segment} {position.Offset}"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public async ValueTask DisposeAsync()
    {
        // The container may dispose it twice (as itself and as IUsageSink).
        if (!_queue.Writer.TryComplete())
        {
            return;
        }

        await _writer;
        await _syncTimer.DisposeAsync();
        lock (_fileLock)
        {
            if (!_handle.IsClosed)
            {
                RandomAccess.FlushToDisk(_handle);
                _handle.Dispose();
            }
        }
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>();
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            buffer.ResetWrittenCount();
            while (batch.Count < 4096 && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
                SpoolRecords.Write(buffer, pending.Usage);
            }

            try
            {
                Append(buffer.WrittenSpan, batch.Count);
                foreach (var pending in batch)
                {
                    pending.Done.TrySetResult();
                }
            }
            catch (Exception e)
            {
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(e);
                }
            }
        }
    }

    /// <summary>Writes whole records at the end of the current segment, syncing if configured, rotating when full.</summary>
    private void Append(ReadOnlySpan<byte> records, int count)
    {
        lock (_fileLock)
        {
            if (_handle.IsClosed)
            {
                throw new InvalidOperationException("the usage spool is closed");
            }

            RandomAccess.Write(_handle, records, _length);
            _length += records.Length;
            _dirty = true;
            if (_options.SyncEachCommit)
            {
                RandomAccess.FlushToDisk(_handle);
                _dirty = false;
            }

            if (_length >= _options.SegmentBytes)
            {
                Rotate();
            }
        }

        Interlocked.Add(ref _appended, count);
        if (_appendedSignal.CurrentCount == 0)
        {
            _appendedSignal.Release();
        }
    }

    /// <summary>
    /// Syncs outside the file lock so that appends (and the requests waiting for them) never queue behind the
    /// disk: the handle is kept open by a reference for the duration, and a write that lands during the sync
    /// marks the file dirty again for the next tick.
    /// </summary>
    private void SyncIfDirty()
    {
        SafeFileHandle handle;
        var referenced = false;
        lock (_fileLock)
        {
            if (!_dirty || _handle.IsClosed)
            {
                return;
            }

            handle = _handle;
            handle.DangerousAddRef(ref referenced);
            _dirty = false;
        }

        try
        {
            RandomAccess.FlushToDisk(handle);
        }
        catch (ObjectDisposedException)
        {
            // Rotated away meanwhile: rotation synced the old segment itself.
        }
        catch (IOException)
        {
            lock (_fileLock)
            {
                _dirty = true; // try again on the next tick
            }
        }
        finally
        {
            if (referenced)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Opens the newest segment after cutting off a torn or corrupt tail (never acknowledged).</summary>
    private void Recover()
    {
        var segments = Segments();
        _segment = segments.Count == 0 ? 1 : segments.Max();
        var path = SegmentPath(_segment);
        _handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(_handle);
        var valid = 0L;
        if (length > 0)
        {
            var data = ReadRange(path, 0, length);
            while (SpoolRecords.TryRead(data.AsSpan((int)valid), out _, out var consumed, out _))
            {
                valid += consumed;
            }
        }

        if (valid < length)
        {
            RandomAccess.SetLength(_handle, valid);
        }

        _length = valid;
    }

    private void Rotate()
    {
        RandomAccess.FlushToDisk(_handle);
        _handle.Dispose();
        _segment++;
        _length = 0;
        _handle = File.OpenHandle(SegmentPath(_segment), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        _dirty = false;
    }

    private List<long> Segments() =>
        System.IO.Directory.EnumerateFiles(_options.Directory, "*" + Extension)
            .Select(f => long.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
            .Where(n => n >= 0)
            .ToList();

    private string SegmentPath(long segment) => Path.Combine(_options.Directory, segment.ToString("D12", CultureInfo.InvariantCulture) + Extension);

    private static byte[] ReadRange(string path, long from, long to)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var buffer = new byte[to - from];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = RandomAccess.Read(handle, buffer.AsSpan(read), from + read);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return read == buffer.Length ? buffer : buffer[..read];
    }

    private sealed class Pending(UsageEvent usage)
    {
        public UsageEvent Usage { get; } = usage;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
