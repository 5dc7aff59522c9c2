using System.Text;
using CsCheck;
using UltraRepo.Domain.Metering;

namespace UltraRepo.Domain.Tests.Metering;

public class SseParserTests
{
    /// <summary>An event as plain values: the parser's Data is only valid during the callback.</summary>
    private sealed record Received(string? EventType, string? Id, string Data, int? Retry);

    // A Streamable HTTP response stream: a priming event, a comment, a progress notification, a multi-line event
    // and a result with non-ASCII text, so that splits land inside UTF-8 sequences too.
    private const string SampleStream =
        "id: 0\ndata:\n\n" +
        ": keep-alive\n\n" +
        "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n" +
        "retry: 3000\ndata: first line\ndata:second line\ndata:  two spaces\n\n" +
        "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Zürich ☀ 😀\"}]}}\n\n";

    private static readonly Received[] SampleEvents =
    [
        new(null, "0", "", null),
        new("message", "1", """{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}""", null),
        new(null, "1", "first line\nsecond line\n two spaces", 3000),
        new(null, "2", """{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Zürich ☀ 😀"}]}}""", null),
    ];

    private static List<Received> Parse(params byte[][] chunks) => Parse(new SseParser(), chunks);

    private static List<Received> Parse(SseParser parser, params byte[][] chunks)
    {
        var events = new List<Received>();
        void OnEvent(SseEvent e) => events.Add(new Received(e.EventType, e.Id, Encoding.UTF8.GetString(e.Data.Span), e.Retry));
        foreach (byte[] chunk in chunks)
        {
            parser.Feed(chunk, OnEvent);
        }

        parser.Complete(OnEvent);
        return events;
    }

    private static List<Received> Parse(string stream) => Parse(Encoding.UTF8.GetBytes(stream));

    private static string WithLineEndings(string stream, string ending) => stream.Replace("\n", ending, StringComparison.Ordinal);

    [Fact]
    public void Feed_WholeStream_DispatchesEveryEventWithItsFields()
    {
        Assert.Equal(SampleEvents, Parse(SampleStream));
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void Feed_AnyLineEnding_GivesTheSameEvents(string ending)
    {
        Assert.Equal(SampleEvents, Parse(WithLineEndings(SampleStream, ending)));
    }

    [Fact]
    public void Feed_MixedLineEndings_GiveTheSameEvents()
    {
        var endings = new[] { "\n", "\r\n", "\r" };
        int line = 0;
        string mixed = string.Concat(SampleStream.Split('\n').Select((text, i) => i == 0 ? text : endings[line++ % 3] + text));
        Assert.Equal(SampleEvents, Parse(mixed));
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void Feed_SplitIntoTwoChunksAtEveryByte_GivesTheSameEvents(string ending)
    {
        byte[] stream = Encoding.UTF8.GetBytes(WithLineEndings(SampleStream, ending));
        for (int split = 0; split <= stream.Length; split++)
        {
            Assert.Equal(SampleEvents, Parse(stream[..split], stream[split..]));
        }
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void Feed_OneByteAtATime_GivesTheSameEvents(string ending)
    {
        byte[] stream = Encoding.UTF8.GetBytes(WithLineEndings(SampleStream, ending));
        Assert.Equal(SampleEvents, Parse(stream.Select(b => new[] { b }).ToArray()));
    }

    [Fact]
    public void Feed_SplitAnywhereIntoAnyNumberOfChunks_GivesTheSameEvents()
    {
        byte[] stream = Encoding.UTF8.GetBytes(WithLineEndings(SampleStream, "\r\n"));
        Gen.Int[0, stream.Length].Array[0, 12].Sample(cuts =>
        {
            int[] points = [0, .. cuts.Order(), stream.Length];
            byte[][] chunks = points.Zip(points.Skip(1), (from, to) => stream[from..to]).ToArray();
            Assert.Equal(SampleEvents, Parse(chunks));
        }, iter: 2000);
    }

    [Fact]
    public void Feed_CommentsAndBlankLinesAlone_DispatchNothing()
    {
        Assert.Empty(Parse(":ping\n\n: another comment\n\n\n\n:\n\n"));
    }

    [Fact]
    public void Feed_CommentInsideAnEvent_IsIgnored()
    {
        Assert.Equal([new Received(null, null, "a\nb", null)], Parse("data: a\n: not data\ndata: b\n\n"));
    }

    [Fact]
    public void Feed_PrimingEventWithOnlyAnId_IsDispatchedWithEmptyData()
    {
        var received = Assert.Single(Parse("id: 7f3c-0\n\n"));
        Assert.Equal(new Received(null, "7f3c-0", "", null), received);
    }

    [Fact]
    public void Feed_EventWithOnlyAType_IsDispatched()
    {
        Assert.Equal([new Received("endpoint", null, "", null)], Parse("event: endpoint\n\n"));
    }

    [Fact]
    public void Feed_FieldWithoutColon_HasAnEmptyValue()
    {
        // "data" alone appends an empty line: two of them join to "\n".
        Assert.Equal([new Received(null, null, "\n", null)], Parse("data\ndata\n\n"));
        Assert.Equal([new Received(null, "", "x", null)], Parse("id\ndata: x\n\n"));
    }

    [Fact]
    public void Feed_OnlyOneLeadingSpaceIsStripped()
    {
        Assert.Equal([new Received(" spaced", null, "  value ", null)], Parse("event:  spaced\ndata:   value \n\n"));
    }

    [Fact]
    public void Feed_ColonInTheValue_IsKept()
    {
        Assert.Equal([new Received(null, null, "{\"a\":\"b:c\"}", null)], Parse("data: {\"a\":\"b:c\"}\n\n"));
    }

    [Fact]
    public void Feed_LastEventId_PersistsUntilChanged()
    {
        Assert.Equal(
            [new Received(null, "5", "a", null), new Received(null, "5", "b", null), new Received(null, "", "c", null)],
            Parse("id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"));
    }

    [Fact]
    public void Feed_IdContainingNull_IsIgnored()
    {
        var parser = new SseParser();
        Assert.Equal([new Received(null, "1", "a", null), new Received(null, "1", "b", null)], Parse(parser, Encoding.UTF8.GetBytes("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n")));
        Assert.Equal("1", parser.LastEventId);
    }

    [Fact]
    public void Feed_Retry_IsReportedOnlyWhenAllDigits()
    {
        Assert.Equal(
            [new Received(null, null, "a", 5000), new Received(null, null, "b", null), new Received(null, null, "c", null)],
            Parse("retry: 5000\ndata: a\n\nretry: 5s\ndata: b\n\nretry: 99999999999\ndata: c\n\n"));
    }

    [Fact]
    public void Feed_EmptyEventType_IsTheDefaultType()
    {
        Assert.Equal([new Received(null, null, "x", null)], Parse("event:\ndata: x\n\n"));
    }

    [Fact]
    public void Feed_UnknownFields_AreIgnored()
    {
        Assert.Empty(Parse("foo: bar\n\n"));
        Assert.Equal([new Received(null, null, "x", null)], Parse("foo: bar\ndata: x\nDATA: y\n\n"));
    }

    [Fact]
    public void Feed_LeadingBom_IsSkippedEvenWhenSplit()
    {
        byte[] stream = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("data: x\n\n")];
        var expected = new[] { new Received(null, null, "x", null) };
        Assert.Equal(expected, Parse(stream));
        Assert.Equal(expected, Parse(stream[..1], stream[1..2], stream[2..4], stream[4..]));
    }

    [Fact]
    public void Feed_BomAfterTheStart_IsData()
    {
        Assert.Equal([new Received(null, null, "\uFEFFx", null)], Parse("data: \uFEFFx\n\n"));
        // A second BOM at the very start is not skipped: the line becomes an unknown field.
        Assert.Empty(Parse("\uFEFF\uFEFFdata: x\n\n"));
    }

    [Fact]
    public void Feed_BytesThatOnlyStartLikeABom_AreKept()
    {
        byte[] stream = [0xEF, 0xBB, .. Encoding.UTF8.GetBytes("x: 1\ndata: y\n\n")]; // not a BOM: part of an (unknown) field name
        Assert.Equal([new Received(null, null, "y", null)], Parse(stream[..1], stream[1..]));
    }

    [Fact]
    public void Complete_DiscardsAnUnterminatedEvent()
    {
        Assert.Equal([new Received(null, null, "done", null)], Parse("data: done\n\ndata: partial\n"));
        Assert.Empty(Parse("data: no line ending"));
        Assert.Empty(Parse("id: 9\ndata: x\r"));
    }

    [Fact]
    public void Complete_LeavesTheParserReadyForANewStream()
    {
        var parser = new SseParser();
        Assert.Empty(Parse(parser, Encoding.UTF8.GetBytes("id: 3\ndata: cut off")));
        Assert.Equal([new Received(null, "3", "fresh", null)], Parse(parser, Encoding.UTF8.GetBytes("\uFEFFdata: fresh\n\n")));
    }

    [Fact]
    public void Feed_CarriageReturnAtChunkEnd_DoesNotSwallowALaterLine()
    {
        // "\r" then "\n" in the next chunk is one line ending; "\r" then "\r" is two.
        Assert.Equal([new Received(null, null, "a", null)], Parse(Encoding.UTF8.GetBytes("data: a\r"), Encoding.UTF8.GetBytes("\n\r\n")));
        Assert.Equal([new Received(null, null, "a", null)], Parse(Encoding.UTF8.GetBytes("data: a\r"), Encoding.UTF8.GetBytes("\r")));
        Assert.Equal([new Received(null, null, "a", null)], Parse(Encoding.UTF8.GetBytes("data: a\r"), [], Encoding.UTF8.GetBytes("\n\n")));
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(65_536)]
    [InlineData(7)]
    public void Feed_OneMegabyteEventAcrossManyChunks_IsReassembled(int chunkSize)
    {
        string payload = string.Concat(Enumerable.Range(0, 42_000).Select(i => $"{{\"n\":{i,8},\"t\":\"é-x\"}}")); // 25 bytes each
        byte[] stream = Encoding.UTF8.GetBytes($"id: big\ndata: {payload}\n\nid: after\ndata: small\n\n");
        Assert.True(Encoding.UTF8.GetByteCount(payload) >= 1_048_576);
        byte[][] chunks = stream.Chunk(chunkSize).ToArray();

        var received = Parse(chunks);

        Assert.Equal(2, received.Count);
        Assert.Equal(new Received(null, "big", payload, null), received[0]);
        Assert.Equal(new Received(null, "after", "small", null), received[1]);
    }

    [Fact]
    public void Feed_EventsFromOneChunk_KeepTheirDataUntilTheNextFeed()
    {
        var parser = new SseParser();
        var events = new List<SseEvent>();
        parser.Feed(Encoding.UTF8.GetBytes("data: first event\n\ndata: second\n\ndata: third, and much longer than the others\n\ndata: cut"), events.Add);

        Assert.Equal(["first event", "second", "third, and much longer than the others"], events.Select(e => Encoding.UTF8.GetString(e.Data.Span)));
    }

    [Fact]
    public void Feed_EventsFromOneChunk_KeepTheirDataWhenTheBufferGrows()
    {
        var parser = new SseParser();
        var events = new List<SseEvent>();
        string big = new('x', 100_000);
        parser.Feed(Encoding.UTF8.GetBytes($"data: small\n\ndata: {big}\n\n"), events.Add);

        Assert.Equal(["small", big], events.Select(e => Encoding.UTF8.GetString(e.Data.Span)));
    }

    [Fact]
    public void Feed_AllocatesPerEventNotPerByte()
    {
        byte[] stream = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 2_000).Select(i => $"data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":{i}}}}}\n\n")));
        var parser = new SseParser();
        int events = 0;
        Action<SseEvent> onEvent = _ => events++;
        parser.Feed(stream, onEvent); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < stream.Length; i++)
        {
            parser.Feed(stream.AsSpan(i, 1), onEvent);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(4_000, events);
        Assert.True(stream.Length > 150_000);
        Assert.True(allocated < 2_000 * 200, $"{allocated} bytes for {stream.Length} bytes fed one at a time"); // an SseEvent per event
    }

    [Fact]
    public void Feed_EventOverTheSizeLimit_IsSkippedWholeAndCounted()
    {
        string big = new('x', 3_000);
        byte[] stream = Encoding.UTF8.GetBytes($"data: small\n\nid: 1\ndata: {big}\ndata: more\n\nevent: message\ndata: after\n\n");
        var expected = new[] { new Received(null, null, "small", null), new Received("message", "1", "after", null) };

        for (int split = 0; split <= stream.Length; split += 7)
        {
            var parser = new SseParser(maxEventBytes: 1_000);
            Assert.Equal(expected, Parse(parser, stream[..split], stream[split..]));
            Assert.Equal(1, parser.OversizedEvents);
        }

        var byteByByte = new SseParser(maxEventBytes: 1_000);
        Assert.Equal(expected, Parse(byteByByte, stream.Select(b => new[] { b }).ToArray()));
        Assert.Equal(1, byteByByte.OversizedEvents);
    }

    [Fact]
    public void Feed_EventsUpToTheSizeLimit_AreKeptHoweverTheStreamIsSplit()
    {
        // A 1,000-byte line, and two data lines of 499 + '\n' each: both exactly at the limit.
        string data = new('x', 994);
        string twoLines = new('y', 499);
        byte[] stream = Encoding.UTF8.GetBytes($"data: {data}\n\ndata: {twoLines}\ndata: {twoLines}\n\n");
        var expected = new[] { new Received(null, null, data, null), new Received(null, null, twoLines + "\n" + twoLines, null) };

        for (int split = 0; split <= stream.Length; split++)
        {
            var parser = new SseParser(maxEventBytes: 1_000);
            Assert.Equal(expected, Parse(parser, stream[..split], stream[split..]));
            Assert.Equal(0, parser.OversizedEvents);
        }

        var tighter = new SseParser(maxEventBytes: 999);
        Assert.Empty(Parse(tighter, stream));
        Assert.Equal(2, tighter.OversizedEvents);
    }

    [Fact]
    public void Feed_DataIsTheUtf8OfTheJoinedLines_ReadyForCounting()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        var parser = new SseParser();
        long tokens = 0;
        parser.Feed(Encoding.UTF8.GetBytes("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Zürich\"}]}}\n\n"), e =>
            tokens += McpTokenAccounting.CountMessage(e.Data.Span, MessageDirection.ServerToClient, counter, "tools/call").Tokens);
        Assert.Equal(Reference.Tokens("Zürich"), tokens);
    }

    // The gateway reads each Feed's events after it returns, and other requests share the buffer pool meanwhile: an
    // event's data must stay intact until the next Feed, however the buffers grew and shrank around it.
    [Fact]
    public void Feed_EventsKeepTheirDataUntilTheNextFeed_WhileOthersUseThePool()
    {
        var sizes = Gen.OneOf(Gen.Int[0, 300], Gen.Int[300, 70_000], Gen.Int[70_000, 200_000]);
        Gen.Select(sizes.Array[1, 6], Gen.Int[1, 80_000]).Sample((lengths, chunkSize) =>
        {
            var texts = lengths.Select((length, i) => new string((char)('a' + i), length)).ToArray();
            byte[] stream = Encoding.UTF8.GetBytes(string.Concat(texts.Select(t => $"data: {t}\n\n")));
            var parser = new SseParser();
            var received = new List<string>();
            for (int offset = 0; offset < stream.Length; offset += chunkSize)
            {
                var events = new List<SseEvent>();
                parser.Feed(stream.AsSpan(offset, Math.Min(chunkSize, stream.Length - offset)), events.Add);
                for (int size = 16; size <= 1 << 20; size *= 2)
                {
                    byte[] other = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
                    other.AsSpan().Fill((byte)'#');
                    System.Buffers.ArrayPool<byte>.Shared.Return(other);
                }

                received.AddRange(events.Select(e => Encoding.UTF8.GetString(e.Data.Span)));
            }

            Assert.Equal(texts, received);
        }, iter: 200);
    }
}
