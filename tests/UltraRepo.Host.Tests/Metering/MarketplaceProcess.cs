using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace UltraRepo.Host.Tests.Metering;

/// <summary>
/// The real marketplace host as a child process (<c>dotnet UltraRepo.Host.dll --urls …</c>), so a test can kill it
/// with SIGKILL mid-traffic and start it again on the same files, or run one of its commands to the end.
/// </summary>
internal sealed class MarketplaceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private MarketplaceProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>What the host wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// The host's build output: the copy next to the test assembly (the test project references the host, so its dll,
    /// runtimeconfig and deps are copied here), else <c>src/UltraRepo.Host/bin/&lt;Configuration&gt;/net10.0</c>.
    /// </summary>
    public static string HostDll()
    {
        var local = Path.Combine(AppContext.BaseDirectory, "UltraRepo.Host.dll");
        if (Runnable(local))
        {
            return local;
        }

        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent!.Name;
        for (var dir = framework; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "UltraRepo.Host", "bin", configuration, framework.Name, "UltraRepo.Host.dll");
            if (Runnable(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("UltraRepo.Host.dll with its runtimeconfig.json and deps.json was not found next to the tests or under src/UltraRepo.Host/bin");
    }

    public static async Task<MarketplaceProcess> StartAsync(IReadOnlyDictionary<string, string> settings, TimeSpan timeout)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // The port is free when asked; another process may take it before the host binds, hence the retries.
            var port = FreePort();
            var host = Launch(settings, port);
            try
            {
                await host.WaitUntilHealthyAsync(timeout);
                return host;
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                last = new InvalidOperationException($"{e.Message}\n--- host output ---\n{host.Output}", e);
                await host.DisposeAsync();
            }
        }

        throw last!;
    }

    /// <summary>SIGKILL: no shutdown hooks, no drain, no flush.</summary>
    public void Kill()
    {
        // Process.Kill walks the process tree before it signals (tens of milliseconds on a busy machine, long enough
        // for every request in flight to finish); the signal itself goes first so the kill lands where the test decides.
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            _ = SendSignal(_process.Id, 9);
        }

        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        await Task.Yield();
        _process.Dispose();
    }

    /// <summary>Runs a host command (e.g. <c>import &lt;file&gt;</c>) to its end: its exit code and what it wrote.</summary>
    public static async Task<(int ExitCode, string Output)> RunCommandAsync(IReadOnlyDictionary<string, string> settings, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var process = new Process { StartInfo = StartInfo(settings, arguments) };
        var output = new StringBuilder();
        void Append(string? line)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static MarketplaceProcess Launch(IReadOnlyDictionary<string, string> settings, int port)
    {
        var process = new Process { StartInfo = StartInfo(settings, ["--urls", $"http://127.0.0.1:{port}"]) };
        var host = new MarketplaceProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => host.Append(e.Data);
        process.ErrorDataReceived += (_, e) => host.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    private static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> settings, IEnumerable<string> arguments)
    {
        var dll = HostDll();
        var start = new ProcessStartInfo(DotnetExecutable())
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Nothing from the test process's environment may point the child at another database or address.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)
            || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || k.StartsWith("Usage__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the host exited with code {_process.ExitCode}");
            }

            try
            {
                if ((await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Still starting.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the host did not become healthy within {timeout.TotalSeconds} s");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private static string DotnetExecutable()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }

        return Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private static bool Runnable(string dll) =>
        File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")) && File.Exists(Path.ChangeExtension(dll, ".deps.json"));

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
