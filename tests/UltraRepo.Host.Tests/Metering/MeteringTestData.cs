using System.Reflection;
using Microsoft.Extensions.Options;
using UltraRepo.Metering;
using UltraRepo.Metering.Spool;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>Usage events to feed the pipeline, and a spool on its own temporary folder.</summary>
internal static class MeteringTestData
{
    public static readonly Guid Alice = Guid.Parse("0197a1b2-0000-7000-8000-00000000a11c");
    public static readonly Guid Bob = Guid.Parse("0197a1b2-0000-7000-8000-000000000b0b");

    /// <summary>A gateway event with every field set; <paramref name="n"/> makes it distinct.</summary>
    public static UsageEvent Event(int n, DateTime? at = null, Guid? consumer = null, string server = "com.ultrarepo.alice/weather",
        string outcome = UsageOutcome.Ok, string currency = "USD", decimal? cost = null, string? rpcId = null)
    {
        var timestamp = at ?? new DateTime(2026, 11, 2, 9, 0, 0, DateTimeKind.Utc).AddSeconds(n);
        return new UsageEvent
        {
            Timestamp = timestamp,
            Period = timestamp.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture),
            ConsumerId = consumer ?? Bob,
            KeyId = Guid.CreateVersion7(),
            SubscriptionId = Guid.CreateVersion7(),
            ServerName = server,
            ServerVersion = "1.0.0",
            Method = "tools/call",
            Target = "echo",
            JsonRpcId = rpcId ?? n.ToString(System.Globalization.CultureInfo.InvariantCulture),
            SessionId = "session-" + n,
            InputTokens = 10 + n,
            OutputTokens = 20 + 2L * n,
            TotalTokens = 30 + 3L * n,
            LatencyMs = n % 97,
            Outcome = outcome,
            HttpStatus = 200,
            Cost = cost ?? (n + 1) * 0.000001234567m,
            Currency = currency,
            Tokenizer = "o200k_base",
        };
    }

    public static UsageSpool NewSpool(string folder, long segmentBytes = 16 * 1024 * 1024, bool syncEachCommit = false) =>
        new(Options.Create(new SpoolOptions { Directory = folder, SegmentBytes = segmentBytes, SyncEachCommit = syncEachCommit }));

    /// <summary>Every public property of the event, by name, for field-by-field comparison.</summary>
    public static IReadOnlyDictionary<string, object?> Fields(UsageEvent e) =>
        typeof(UsageEvent).GetProperties(BindingFlags.Public | BindingFlags.Instance).ToDictionary(p => p.Name, p => p.GetValue(e));

    /// <summary>Asserts two events are equal in every property, including the kind of the timestamp.</summary>
    public static void AssertSameEvent(UsageEvent expected, UsageEvent actual)
    {
        var a = Fields(expected);
        var b = Fields(actual);
        foreach (var (name, value) in a)
        {
            Assert.True(Equals(value, b[name]), $"{name}: expected <{value}>, got <{b[name]}>");
        }

        Assert.Equal(expected.Timestamp.Kind, actual.Timestamp.Kind);
    }
}

/// <summary>A temporary folder deleted at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix = "metering")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ultrarepo-tests", prefix + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the temp folder is disposable.
        }
    }
}

/// <summary>An in-memory <see cref="IUsageStore"/> that keeps every delivery (duplicates included) and can be made to fail.</summary>
internal sealed class RecordingUsageStore : UltraRepo.Metering.Storage.IUsageStore
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, UsageEvent> _stored = new();
    private int _failuresLeft;

    /// <summary>Every event handed to the store, in delivery order, re-deliveries included.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<UsageEvent> Delivered { get; } = new();

    public IReadOnlyCollection<UsageEvent> Stored => _stored.Values.ToList();

    public int Batches => Volatile.Read(ref _batches);

    /// <summary>Writes that failed on purpose (<see cref="FailNext"/>).</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>How many batches the shipper may write at once (1 like SQLite, 2 like PostgreSQL).</summary>
    public int ConcurrentWrites { get; init; } = 1;

    /// <summary>The most events per batch the shipper may hand over.</summary>
    public int MaxBatch { get; init; } = 5_000;

    /// <summary>The size of every batch handed over, in delivery order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<int> BatchSizes { get; } = new();

    /// <summary>While true, every write fails as if the database were down.</summary>
    public bool Down
    {
        get => Volatile.Read(ref _down);
        set => Volatile.Write(ref _down, value);
    }

    private bool _down;
    private int _batches;
    private int _failures;
    private int _skipBeforeFailing;

    /// <summary>The next <paramref name="count"/> writes fail, after <paramref name="skip"/> more succeed.</summary>
    public void FailNext(int count, int skip = 0)
    {
        Volatile.Write(ref _skipBeforeFailing, skip);
        Volatile.Write(ref _failuresLeft, count);
    }

    /// <summary>Runs at the start of every write, before it can fail (e.g. to append more events while a batch is written).</summary>
    public Action<IReadOnlyList<UsageEvent>>? OnWrite { get; init; }

    public Task<int> WriteAsync(IReadOnlyList<UsageEvent> events, CancellationToken ct)
    {
        OnWrite?.Invoke(events);
        if (Down || (Interlocked.Decrement(ref _skipBeforeFailing) < 0 && Interlocked.Decrement(ref _failuresLeft) >= 0))
        {
            Interlocked.Increment(ref _failures);
            throw new IOException("the database is unavailable");
        }

        Interlocked.Increment(ref _batches);
        BatchSizes.Enqueue(events.Count);
        var added = 0;
        foreach (var e in events)
        {
            Delivered.Enqueue(e);
            added += _stored.TryAdd(e.Id, e) ? 1 : 0;
        }

        return Task.FromResult(added);
    }
}
