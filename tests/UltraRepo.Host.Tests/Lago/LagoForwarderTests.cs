using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using UltraRepo.Lago;
using UltraRepo.Metering;

namespace UltraRepo.Host.Tests.Lago;

/// <summary>
/// The forwarder on its own against the stand-in, one batch at a time: what Lago's refusals do to a batch,
/// that a wrong key never loses events, and that the queue survives a restart.
/// </summary>
public sealed class LagoForwarderTests : IAsyncLifetime
{
    private static readonly DateTime At = new(2026, 11, 2, 9, 0, 0, DateTimeKind.Utc);
    private readonly string _spool = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "lago-forwarder-" + Guid.NewGuid().ToString("N"));
    private LagoStandIn _lago = null!;
    private readonly List<ServiceProvider> _providers = [];

    public async Task InitializeAsync() => _lago = await LagoStandIn.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }

        await _lago.DisposeAsync();
        if (Directory.Exists(_spool))
        {
            Directory.Delete(_spool, recursive: true);
        }
    }

    private LagoForwarder NewForwarder(string apiKey = LagoStandIn.ApiKey, int batchSize = 100)
    {
        var options = new LagoOptions
        {
            ApiUrl = _lago.BaseAddress.ToString(),
            ApiKey = apiKey,
            BatchSize = batchSize,
            SpoolDirectory = _spool,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            MaxRetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRejectedAttempts = 3,
        };
        var services = new ServiceCollection();
        services.AddSingleton<IOptions<LagoOptions>>(Options.Create(options));
        services.AddHttpClient(LagoClient.HttpClientName).ConfigureHttpClient(http => LagoClient.Configure(http, options));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<LagoClient>();
        services.AddSingleton(sp => new LagoForwarder(sp.GetRequiredService<LagoClient>(), sp.GetRequiredService<IOptions<LagoOptions>>(), TimeProvider.System, NullLogger<LagoForwarder>.Instance));
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider.GetRequiredService<LagoForwarder>();
    }

    private static List<UsageEvent> Events(int count) => Enumerable.Range(0, count).Select(i => LagoTestEvents.Billable(At.AddSeconds(i), input: i)).ToList();

    [Fact]
    public async Task EventLagoFindsInvalid_IsDroppedAlone_AndTheRestOfItsBatchIsSentAgainAndDelivered()
    {
        var forwarder = NewForwarder();
        var events = Events(10);
        _lago.InvalidTransactions[events[3].Id.ToString()] = true;
        await forwarder.OnShippedAsync(events, CancellationToken.None);

        Assert.Equal(10, await forwarder.ForwardBatchAsync(CancellationToken.None));

        Assert.Equal(events.Where((_, i) => i != 3).Select(e => e.Id.ToString()).Order(), _lago.Events.Keys.Order());
        Assert.Equal([422, 200], _lago.BatchCalls.Select(r => r.Status));
        Assert.Equal(9, _lago.BatchCalls.Last().Body!["events"]!.AsArray().Count);
        Assert.Equal((9, 1, 0), (forwarder.Delivered, forwarder.Dropped, forwarder.Pending));
    }

    [Fact]
    public async Task BatchLagoRefusesAsAWhole_IsDroppedAfterMaxAttempts_AndTheNextBatchStillGoes()
    {
        var forwarder = NewForwarder(batchSize: 5);
        var events = Events(8);
        await forwarder.OnShippedAsync(events, CancellationToken.None);
        _lago.FailNext(3, 400);

        Assert.Equal(5, await forwarder.ForwardBatchAsync(CancellationToken.None));
        Assert.Equal(3, await forwarder.ForwardBatchAsync(CancellationToken.None));
        Assert.Equal(0, await forwarder.ForwardBatchAsync(CancellationToken.None));

        Assert.Equal([400, 400, 400, 200], _lago.BatchCalls.Select(r => r.Status));
        Assert.Equal(events.Skip(5).Select(e => e.Id.ToString()).Order(), _lago.Events.Keys.Order());
        Assert.Equal((3, 5, 0), (forwarder.Delivered, forwarder.Dropped, forwarder.Pending));
    }

    [Fact]
    public async Task WrongApiKey_IsRetriedWithoutEnd_AndNeverDropsEvents()
    {
        var forwarder = NewForwarder(apiKey: "wrong-key");
        await forwarder.OnShippedAsync(Events(4), CancellationToken.None);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(600));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => forwarder.ForwardBatchAsync(stop.Token));

        Assert.True(_lago.BatchCalls.Count() >= 3, $"{_lago.BatchCalls.Count()} calls");
        Assert.All(_lago.BatchCalls, r => Assert.Equal(401, r.Status));
        Assert.Equal("Bearer wrong-key", _lago.BatchCalls.First().Authorization);
        Assert.Equal((0, 0, 4), (forwarder.Delivered, forwarder.Dropped, forwarder.Pending));
    }

    [Fact]
    public async Task QueuedEvents_SurviveARestart_AndAreSentFromTheCheckpoint()
    {
        var events = Events(7);
        var first = NewForwarder(batchSize: 4);
        await first.OnShippedAsync(events, CancellationToken.None);
        Assert.Equal(4, await first.ForwardBatchAsync(CancellationToken.None));
        await _providers[0].DisposeAsync();
        _providers.Clear();

        var second = NewForwarder(batchSize: 4);
        Assert.Equal(3, second.Pending);
        Assert.Equal(3, await second.ForwardBatchAsync(CancellationToken.None));

        Assert.Equal(events.Select(e => e.Id.ToString()).Order(), _lago.Events.Keys.Order());
        Assert.Equal([4, 3], _lago.BatchCalls.Select(r => r.Body!["events"]!.AsArray().Count));
    }

    [Fact]
    public async Task EventsThatAreNotBillableOrHaveNoSubscription_AreNotQueued()
    {
        var forwarder = NewForwarder();

        await forwarder.OnShippedAsync(
            [LagoTestEvents.Billable(At, outcome: UsageOutcome.Denied), LagoTestEvents.Billable(At, outcome: UsageOutcome.Limited), LagoTestEvents.Billable(At, subscription: false)],
            CancellationToken.None);

        Assert.Equal(0, forwarder.Pending);
        Assert.Equal(0, await forwarder.ForwardBatchAsync(CancellationToken.None));
        Assert.Empty(_lago.Requests);
    }
}
