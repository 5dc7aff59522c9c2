using System.Buffers;
using System.Buffers.Binary;
using UltraRepo.Metering;
using UltraRepo.Metering.Spool;
using static UltraRepo.Host.Tests.Metering.MeteringTestData;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>The write-ahead spool on its own: framing, in-line and group commits, segments, checkpoints and crash recovery.</summary>
public sealed class UsageSpoolTests : IDisposable
{
    private readonly TempFolder _folder = new("spool");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Append_ThenRead_PreservesEveryFieldExactly()
    {
        var full = Event(1);
        var events = new List<UsageEvent>
        {
            Clone(full, timestamp: new DateTime(2026, 11, 30, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_999),
                target: "天気/取得 🌦️ עברית e\u0301 \"quoted\" \\ \u0000 \u2028", rpcId: "\"id\" ✓ 𝄞", cost: 123456789.1234567890123456789m),
            Clone(full, cost: 0.0000000000000000000000000001m),
            Clone(full, cost: decimal.MaxValue),
            Clone(full, cost: -0.5m),
            Clone(full, cost: 2.50m),
            new()
            {
                Timestamp = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc),
                Period = "2026-12",
                ConsumerId = Alice,
                ServerName = "com.ultrarepo.alice/ñandú",
                Outcome = UsageOutcome.Denied,
                HttpStatus = 403,
                Currency = "EUR",
            },
            new()
            {
                Timestamp = new DateTime(2026, 11, 5, 1, 2, 3, DateTimeKind.Utc),
                Period = "2026-11",
                ConsumerId = Bob,
                ServerName = "com.ultrarepo.alice/ingested",
                Outcome = UsageOutcome.Ok,
                Currency = "JPY",
                Source = UsageSource.Ingest,
                TransactionId = "tx-ßü-1",
                TotalTokens = long.MaxValue,
                LatencyMs = int.MaxValue,
            },
        };

        await using (var spool = NewSpool(_folder.Path))
        {
            foreach (var e in events)
            {
                await spool.RecordAsync(e, CancellationToken.None);
            }

            AssertSameEvents(events, ReadAll(spool, new SpoolPosition(1, 0)));
        }

        // And again from disk, through recovery, in a new instance.
        await using var reopened = NewSpool(_folder.Path);
        var read = ReadAll(reopened, new SpoolPosition(1, 0));
        AssertSameEvents(events, read);
        Assert.Null(read[5].KeyId);
        Assert.Null(read[5].JsonRpcId);
        Assert.Null(read[5].TransactionId);
        Assert.Equal("0.0000000000000000000000000001", read[1].Cost.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(false)] // each caller writes its own record under the lock
    [InlineData(true)] // callers queue for the writer loop, one sync per group
    public async Task ConcurrentAppends_LandExactlyOnce_InEachWritersOrder(bool syncEachCommit)
    {
        const int writers = 32;
        const int perWriter = 200;
        await using var spool = NewSpool(_folder.Path, segmentBytes: 32 * 1024, syncEachCommit: syncEachCommit);

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                await spool.RecordAsync(Event(i, rpcId: $"{w}:{i}"), CancellationToken.None);
            }
        })));

        Assert.Equal(writers * perWriter, spool.Appended);
        var read = ReadAll(spool, new SpoolPosition(1, 0), batch: 333);
        Assert.Equal(writers * perWriter, read.Count);
        Assert.Equal(read.Count, read.Select(e => e.Id).Distinct().Count());
        Assert.Equal(read.Count, read.Select(e => e.JsonRpcId).Distinct().Count());
        foreach (var writer in read.GroupBy(e => e.JsonRpcId!.Split(':')[0]))
        {
            // Each writer awaited its appends one after another, so the log must hold them in that order.
            Assert.Equal(Enumerable.Range(0, perWriter), writer.Select(e => int.Parse(e.JsonRpcId!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.True(SegmentFiles().Count > 3, "the appends should have rotated across several segments");
        Assert.Equal(SegmentFiles().Sum(f => new FileInfo(f).Length), TotalBytes(spool));
    }

    [Fact]
    public async Task Rotation_StartsNewSegmentsPastTheSize_AndReadsCrossThem()
    {
        const long segmentBytes = 2048;
        var events = Enumerable.Range(0, 100).Select(i => Event(i)).ToList();
        await using var spool = NewSpool(_folder.Path, segmentBytes);
        foreach (var e in events)
        {
            await spool.RecordAsync(e, CancellationToken.None);
        }

        var files = SegmentFiles();
        Assert.True(files.Count >= 10, $"expected at least 10 segments, found {files.Count}");
        Assert.Equal(files.Count, spool.Head.Segment);
        Assert.All(files.SkipLast(1), f => Assert.InRange(new FileInfo(f).Length, segmentBytes, segmentBytes + 2048));
        Assert.Equal(Enumerable.Range(1, files.Count).Select(n => $"{n:D12}.seg"), files.Select(Path.GetFileName));

        var position = new SpoolPosition(1, 0);
        var read = new List<UsageEvent>();
        while (true)
        {
            var (batch, next) = spool.Read(position, 7);
            Assert.InRange(batch.Count, 0, 7);
            if (batch.Count == 0)
            {
                break;
            }

            read.AddRange(batch);
            position = next;
        }

        Assert.Equal(events.Select(e => e.Id), read.Select(e => e.Id));
        Assert.Equal(spool.Head, position);
    }

    [Fact]
    public async Task Checkpoint_DefaultsToTheOldestSegment_AndSurvivesAReopen()
    {
        await using (var spool = NewSpool(_folder.Path, segmentBytes: 1024))
        {
            Assert.Equal(new SpoolPosition(1, 0), spool.LoadCheckpoint());
            for (var i = 0; i < 20; i++)
            {
                await spool.RecordAsync(Event(i), CancellationToken.None);
            }

            spool.DeleteShipped(new SpoolPosition(3, 0));
            Assert.Equal(new SpoolPosition(3, 0), spool.LoadCheckpoint());

            spool.SaveCheckpoint(new SpoolPosition(4, 1234));
            Assert.Equal(new SpoolPosition(4, 1234), spool.LoadCheckpoint());
            spool.SaveCheckpoint(new SpoolPosition(5, 7));
        }

        await using var reopened = NewSpool(_folder.Path, segmentBytes: 1024);
        Assert.Equal(new SpoolPosition(5, 7), reopened.LoadCheckpoint());
        Assert.False(File.Exists(_folder.File("checkpoint.tmp")));
    }

    [Fact]
    public async Task DeleteShipped_RemovesOnlySegmentsWhollyBeforeThePosition()
    {
        await using var spool = NewSpool(_folder.Path, segmentBytes: 1024);
        var events = Enumerable.Range(0, 30).Select(i => Event(i)).ToList();
        foreach (var e in events)
        {
            await spool.RecordAsync(e, CancellationToken.None);
        }

        var before = SegmentFiles();
        Assert.True(before.Count >= 5);
        var inThird = Records(before[2]);

        spool.DeleteShipped(new SpoolPosition(3, inThird[1].Offset));

        Assert.Equal(before.Skip(2), SegmentFiles());
        var rest = ReadAll(spool, new SpoolPosition(3, inThird[1].Offset));
        Assert.Equal(events.SkipWhile(e => e.Id != inThird[1].Event.Id).Select(e => e.Id), rest.Select(e => e.Id));

        // Shipped up to the head: every closed segment goes, the open one stays.
        spool.DeleteShipped(spool.Head);
        Assert.Equal([Path.GetFileName(before[^1])], SegmentFiles().Select(Path.GetFileName));
        var head = spool.Head;
        await spool.RecordAsync(Event(99), CancellationToken.None);
        Assert.Single(ReadAll(spool, head));
    }

    public static TheoryData<string> TornTails => new() { "half-header", "header-only", "half-payload", "garbage", "zeros", "bad-crc" };

    [Theory]
    [MemberData(nameof(TornTails))]
    public async Task Recovery_CutsTheTornTail_AndAppendsContinueAfterIt(string tail)
    {
        var first = Enumerable.Range(0, 10).Select(i => Event(i)).ToList();
        await using (var spool = NewSpool(_folder.Path))
        {
            foreach (var e in first)
            {
                await spool.RecordAsync(e, CancellationToken.None);
            }
        }

        var segment = SegmentFiles().Single();
        var valid = new FileInfo(segment).Length;
        var record = Encode(Event(10));
        byte[] torn = tail switch
        {
            "half-header" => record[..3],
            "header-only" => record[..SpoolRecords.HeaderSize],
            "half-payload" => record[..(record.Length / 2)],
            "garbage" => Enumerable.Range(0, 777).Select(i => (byte)(i * 31 + 7)).ToArray(),
            "zeros" => new byte[4096],
            "bad-crc" => Flip(record, record.Length - 3),
            _ => throw new ArgumentOutOfRangeException(nameof(tail)),
        };
        await using (var file = new FileStream(segment, FileMode.Append))
        {
            file.Write(torn);
        }

        var second = Enumerable.Range(100, 5).Select(i => Event(i)).ToList();
        await using (var spool = NewSpool(_folder.Path))
        {
            Assert.Equal(new SpoolPosition(1, valid), spool.Head);
            Assert.Equal(valid, new FileInfo(segment).Length);
            foreach (var e in second)
            {
                await spool.RecordAsync(e, CancellationToken.None);
            }

            Assert.Equal(first.Concat(second).Select(e => e.Id), ReadAll(spool, new SpoolPosition(1, 0)).Select(e => e.Id));
        }

        // The new appends are whole records: a second recovery keeps every one of them.
        await using var again = NewSpool(_folder.Path);
        Assert.Equal(first.Concat(second).Select(e => e.Id), ReadAll(again, new SpoolPosition(1, 0)).Select(e => e.Id));
        Assert.Equal(0, again.CorruptSkips);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task CorruptChecksumInAClosedSegment_SkipsTheRestOfIt_WithoutBlockingLaterSegments(int damaged)
    {
        await WriteEventsAsync(40, segmentBytes: 2048);
        var files = SegmentFiles();
        Assert.True(files.Count >= 4);
        var records = Records(files[0]);
        Assert.True(records.Count > damaged + 1);
        var bytes = File.ReadAllBytes(files[0]);
        bytes[records[damaged].Offset + SpoolRecords.HeaderSize + 5] ^= 0x20;
        File.WriteAllBytes(files[0], bytes);

        await using var spool = NewSpool(_folder.Path, segmentBytes: 2048);
        var read = ReadAll(spool, new SpoolPosition(1, 0), batch: 5);

        var expected = records.Take(damaged).Select(r => r.Event.Id).Concat(files.Skip(1).SelectMany(f => Records(f)).Select(r => r.Event.Id));
        Assert.Equal(expected, read.Select(e => e.Id));
        Assert.Equal(1, spool.CorruptSkips);
    }

    [Fact]
    public async Task CorruptLengthInAClosedSegment_SkipsTheRestOfIt_WithoutBlockingLaterSegments()
    {
        await WriteEventsAsync(40, segmentBytes: 2048);
        var files = SegmentFiles();
        var records = Records(files[0]);
        var bytes = File.ReadAllBytes(files[0]);
        // A damaged length that still looks plausible (under the 1 MiB cap) but runs past the end of the closed segment.
        var damaged = records[1];
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan((int)damaged.Offset), bytes.Length + 1000);
        File.WriteAllBytes(files[0], bytes);

        await using var spool = NewSpool(_folder.Path, segmentBytes: 2048);
        var read = ReadAll(spool, new SpoolPosition(1, 0), batch: 5);

        var expected = records.Take(1).Select(r => r.Event.Id).Concat(files.Skip(1).SelectMany(f => Records(f)).Select(r => r.Event.Id));
        Assert.Equal(expected, read.Select(e => e.Id));
        Assert.Equal(1, spool.CorruptSkips);
    }

    [Fact]
    public async Task BytesAfter_CountsWhatIsNotShippedAcrossSegments()
    {
        await using var spool = NewSpool(_folder.Path, segmentBytes: 1024);
        Assert.Equal(0, spool.BytesAfter(spool.LoadCheckpoint()));
        for (var i = 0; i < 25; i++)
        {
            await spool.RecordAsync(Event(i), CancellationToken.None);
        }

        var lengths = SegmentFiles().Select(f => new FileInfo(f).Length).ToList();
        Assert.Equal(lengths.Sum(), spool.BytesAfter(new SpoolPosition(1, 0)));
        Assert.Equal(lengths.Skip(1).Sum() - 100, spool.BytesAfter(new SpoolPosition(2, 100)));
        Assert.Equal(lengths[^1] - 10, spool.BytesAfter(new SpoolPosition(lengths.Count, 10)));
        Assert.Equal(0, spool.BytesAfter(spool.Head));

        spool.DeleteShipped(new SpoolPosition(3, 0));
        Assert.Equal(lengths.Skip(2).Sum(), spool.BytesAfter(new SpoolPosition(3, 0)));
    }

    [Fact]
    public async Task AnAcknowledgedAppend_IsAlreadyInTheSegmentFile()
    {
        await using var spool = NewSpool(_folder.Path);
        var path = SegmentFiles().Single();
        for (var i = 0; i < 25; i++)
        {
            var e = Event(i);
            await spool.RecordAsync(e, CancellationToken.None);
            // Read back with a separate handle, as a restarted process would after a crash right now.
            Assert.Equal(e.Id, Records(path)[^1].Event.Id);
            Assert.Equal(i + 1, Records(path).Count);
        }
    }

    [Fact]
    public async Task RecordAsync_AfterDispose_Throws()
    {
        var spool = NewSpool(_folder.Path);
        await spool.DisposeAsync();
        await spool.DisposeAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await spool.RecordAsync(Event(1), CancellationToken.None));
    }

    [Fact]
    public async Task CheckpointAheadOfTheRecoveredHead_DoesNotLoseLaterAppends()
    {
        await WriteEventsAsync(10);
        await using (var spool = NewSpool(_folder.Path))
        {
            // The shipper shipped everything and synced its checkpoint …
            spool.SaveCheckpoint(spool.Head);
        }

        // … then the machine went down and the last appends, not yet synced, were lost (SyncEachCommit=false allows that).
        var path = SegmentFiles().Single();
        using (var file = new FileStream(path, FileMode.Open))
        {
            file.SetLength(Records(path)[6].Offset);
        }

        await using var restarted = NewSpool(_folder.Path);
        var store = new RecordingUsageStore();
        var shipper = UsageShipperTests.NewShipper(restarted, store);
        await shipper.StartAsync(CancellationToken.None);
        var after = Enumerable.Range(100, 20).Select(i => Event(i)).ToList();
        foreach (var e in after)
        {
            await restarted.RecordAsync(e, CancellationToken.None);
        }

        for (var i = 0; i < 200 && store.Stored.Count < after.Count; i++)
        {
            await Task.Delay(10);
        }

        await shipper.StopAsync(CancellationToken.None);
        // Events appended after the restart are new: every one must reach the database, and the open segment must survive.
        Assert.True(File.Exists(path), "the open segment was deleted as shipped");
        Assert.Equal(after.Select(e => e.Id).Order(), store.Stored.Select(e => e.Id).Order());
        Assert.Equal(0, restarted.CorruptSkips);
    }

    private async Task WriteEventsAsync(int count, long segmentBytes = 16 * 1024 * 1024)
    {
        await using var spool = NewSpool(_folder.Path, segmentBytes);
        for (var i = 0; i < count; i++)
        {
            await spool.RecordAsync(Event(i), CancellationToken.None);
        }
    }

    /// <summary>Reads like the shipper does, batch after batch, until nothing moves; fails if reading gets stuck before the head.</summary>
    private static List<UsageEvent> ReadAll(UsageSpool spool, SpoolPosition from, int batch = 1000)
    {
        var events = new List<UsageEvent>();
        var position = from;
        for (var i = 0; i < 100_000; i++)
        {
            var (read, next) = spool.Read(position, batch);
            events.AddRange(read);
            if (read.Count == 0 && next == position)
            {
                Assert.True(position >= spool.Head, $"reading stopped at {position} before the head {spool.Head}");
                return events;
            }

            position = next;
        }

        throw new InvalidOperationException("the spool never stopped returning events");
    }

    private static long TotalBytes(UsageSpool spool) => spool.BytesAfter(new SpoolPosition(1, 0));

    private List<string> SegmentFiles() => Directory.GetFiles(_folder.Path, "*.seg").Order(StringComparer.Ordinal).ToList();

    /// <summary>The whole records of a segment file, parsed independently of the spool.</summary>
    private static List<(long Offset, int Length, UsageEvent Event)> Records(string path)
    {
        byte[] data;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            data = new byte[stream.Length];
            stream.ReadExactly(data);
        }

        var records = new List<(long, int, UsageEvent)>();
        var offset = 0;
        while (SpoolRecords.TryRead(data.AsSpan(offset), out var usage, out var consumed, out _))
        {
            records.Add((offset, consumed, usage!));
            offset += consumed;
        }

        return records;
    }

    private static byte[] Encode(UsageEvent usage)
    {
        var writer = new ArrayBufferWriter<byte>();
        SpoolRecords.Write(writer, usage);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] Flip(byte[] bytes, int index)
    {
        var copy = bytes.ToArray();
        copy[index] ^= 0x01;
        return copy;
    }

    private static void AssertSameEvents(IReadOnlyList<UsageEvent> expected, IReadOnlyList<UsageEvent> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            AssertSameEvent(expected[i], actual[i]);
        }
    }

    private static UsageEvent Clone(UsageEvent e, DateTime? timestamp = null, string? target = null, string? rpcId = null, decimal? cost = null) => new()
    {
        Timestamp = timestamp ?? e.Timestamp,
        Period = e.Period,
        ConsumerId = e.ConsumerId,
        KeyId = e.KeyId,
        SubscriptionId = e.SubscriptionId,
        ServerName = e.ServerName,
        ServerVersion = e.ServerVersion,
        Method = e.Method,
        Target = target ?? e.Target,
        JsonRpcId = rpcId ?? e.JsonRpcId,
        SessionId = e.SessionId,
        InputTokens = e.InputTokens,
        OutputTokens = e.OutputTokens,
        TotalTokens = e.TotalTokens,
        LatencyMs = e.LatencyMs,
        Outcome = e.Outcome,
        HttpStatus = e.HttpStatus,
        Cost = cost ?? e.Cost,
        Currency = e.Currency,
        Tokenizer = e.Tokenizer,
        Source = e.Source,
        TransactionId = e.TransactionId,
    };
}
