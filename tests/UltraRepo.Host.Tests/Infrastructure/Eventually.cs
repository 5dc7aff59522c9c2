using System.Diagnostics;

namespace UltraRepo.Host.Tests.Infrastructure;

/// <summary>Waiting for what background work makes true (shipped events, upstream requests, catalog updates).</summary>
public static class Eventually
{
    /// <summary>Returns once <paramref name="condition"/> holds; throws after <paramref name="timeout"/>, naming <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what = "condition")
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{what} not met within {timeout.TotalSeconds} s");
            }

            await Task.Delay(10);
        }
    }
}
