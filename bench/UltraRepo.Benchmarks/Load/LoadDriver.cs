using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;

namespace UltraRepo.Benchmarks.Load;

/// <summary>Where a run sends its tools/call requests: the upstream itself or the gateway's route to it.</summary>
/// <param name="MinResponseBytes">A shorter 200 response counts as an error (it cannot hold the whole result).</param>
internal sealed record McpTarget(Uri Url, string? BearerKey, int MinResponseBytes);

/// <summary>
/// The load generator: an HTTP/1.1 connection pool sending MCP <c>tools/call</c> requests, either at a
/// constant rate (open loop, coordinated-omission-correct) or as fast as a fixed number of workers can
/// (closed loop, for maximum throughput).
/// </summary>
internal sealed class LoadDriver : IDisposable
{
    private const string Arguments = "Summarise the attached meeting notes in three sentences and list every action item with its owner and due date.";
    private readonly HttpClient _http;
    private long _nextId;

    public LoadDriver()
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1024,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>
    /// Schedules <paramref name="rate"/> requests a second for <paramref name="duration"/>, each at its exact
    /// time whatever the previous ones are doing, and measures from that scheduled time (not from the actual
    /// send) to the last byte of the response, so a stall anywhere (driver, gateway, upstream) is counted in
    /// full for every request it delays.
    /// </summary>
    public async Task<OpenLoopResult> ConstantRateAsync(McpTarget target, int rate, TimeSpan duration)
    {
        var total = (int)Math.Round(rate * duration.TotalSeconds);
        var latencies = new long[total];
        var lags = new long[total];
        var timeline = new double[total];
        var calls = new Task[total];
        var errors = 0;
        var done = 0;
        var interval = (double)Stopwatch.Frequency / rate;
        var scheduling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long start = 0;

        async Task MeasureAsync(int i, long scheduled)
        {
            lags[i] = Stopwatch.GetTimestamp() - scheduled;
            var ok = await TryCallAsync(target);
            var latency = Stopwatch.GetTimestamp() - scheduled;
            timeline[i] = ok ? latency * 1000.0 / Stopwatch.Frequency : double.NaN;
            if (ok)
            {
                latencies[Interlocked.Increment(ref done) - 1] = latency;
            }
            else
            {
                Interlocked.Increment(ref errors);
            }
        }

        // A dedicated thread, so scheduling never waits for the thread pool the responses complete on.
        var scheduler = new Thread(() =>
        {
            start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100;
            for (var i = 0; i < total; i++)
            {
                var scheduled = start + (long)(i * interval);
                Sleeper.Until(scheduled);
                calls[i] = MeasureAsync(i, scheduled);
            }

            scheduling.SetResult();
        })
        { IsBackground = true, Name = "constant-rate scheduler" };
        scheduler.Start();
        await scheduling.Task;
        await Task.WhenAll(calls);
        var elapsed = Stopwatch.GetElapsedTime(start);
        return new OpenLoopResult(total, errors, total / elapsed.TotalSeconds, LatencySummary.FromTicks(latencies, done), LatencySummary.FromTicks(lags, total), timeline);
    }

    /// <summary><paramref name="workers"/> loops, each sending its next request when the previous response has ended.</summary>
    public async Task<ClosedLoopResult> MaxThroughputAsync(McpTarget target, int workers, TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = new List<long>[workers];
        var errors = 0;
        var loops = Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var samples = perWorker[w] = new List<long>(64 * 1024);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var sent = Stopwatch.GetTimestamp();
                if (await TryCallAsync(target))
                {
                    samples.Add(Stopwatch.GetTimestamp() - sent);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        await Task.WhenAll(loops);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var all = perWorker.SelectMany(s => s).ToArray();
        return new ClosedLoopResult(workers, all.Length, errors, all.Length / elapsed.TotalSeconds, LatencySummary.FromTicks(all, all.Length));
    }

    /// <summary>One call; the response body is read to its end. Failures are returned, never thrown.</summary>
    public async Task<bool> TryCallAsync(McpTarget target)
    {
        try
        {
            var (status, bytes) = await CallAsync(target);
            return status == HttpStatusCode.OK && bytes >= target.MinResponseBytes;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>One call, returning the status and the number of body bytes read.</summary>
    public async Task<(HttpStatusCode Status, long Bytes)> CallAsync(McpTarget target)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, target.Url)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(ToolsCall(Interlocked.Increment(ref _nextId))),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
        request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", "2025-06-18");
        if (target.BearerKey is { } key)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        }

        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            long bytes = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                bytes += read;
            }

            return (response.StatusCode, bytes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A realistic MCP tools/call request (about 250 bytes).</summary>
    public static byte[] ToolsCall(long id)
    {
        var n = id.ToString(CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":" + n + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\""
            + Arguments + "\"},\"_meta\":{\"progressToken\":\"p-" + n + "\"}}}");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Sub-millisecond sleeps (Thread.Sleep rounds to whole milliseconds, far too coarse at 1,000 requests/s).</summary>
    private static class Sleeper
    {
        private static bool s_native = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS();

        public static void Until(long timestamp)
        {
            while (true)
            {
                var remaining = timestamp - Stopwatch.GetTimestamp();
                if (remaining <= 0)
                {
                    return;
                }

                var microseconds = remaining * 1_000_000 / Stopwatch.Frequency;
                if (microseconds < 20)
                {
                    Thread.SpinWait(50);
                }
                else if (s_native)
                {
                    try
                    {
                        _ = USleep((uint)microseconds);
                    }
                    catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                    {
                        s_native = false;
                    }
                }
                else
                {
                    Thread.Sleep(microseconds >= 1000 ? 1 : 0);
                }
            }
        }

        [DllImport("libc", EntryPoint = "usleep")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern int USleep(uint microseconds);
    }
}
