using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace UltraRepo.Benchmarks.Load;

/// <summary>
/// A server the benchmark runs as its own process on a free loopback port: the marketplace host (the
/// gateway under test) or the bare reference proxy. Its output goes to a log in its scratch folder.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ServerProcess(Process process, StreamWriter log, Uri baseAddress, string folder)
    {
        _process = process;
        _log = log;
        BaseAddress = baseAddress;
        Folder = folder;
    }

    public Uri BaseAddress { get; }

    public string Folder { get; }

    public int ProcessId => _process.Id;

    public string LogPath => Path.Combine(Folder, "server.log");

    /// <summary>CPU time the process has used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>
    /// The marketplace host (Release build) on a fresh SQLite database in a scratch folder, with the per-key
    /// rate limit raised so the benchmark measures cost rather than refusals.
    /// </summary>
    /// <param name="runtimeSwitches">
    /// Extra runtime configuration properties (AppContext switches such as
    /// <c>System.Diagnostics.Tracing.EventSource.IsSupported=false</c>), applied through a copy of the host's
    /// runtimeconfig.json and <c>dotnet exec --runtimeconfig</c>, so the build itself stays untouched.
    /// </param>
    public static Task<ServerProcess> StartGatewayAsync(string hostDll, IReadOnlyDictionary<string, string> extraEnvironment, IReadOnlyDictionary<string, string> runtimeSwitches)
    {
        var folder = Directory.CreateTempSubdirectory("ultrarepo-gateway-load-").FullName;
        var baseAddress = new Uri($"http://127.0.0.1:{FreePort()}");
        List<string> arguments = runtimeSwitches.Count > 0
            ? ["exec", "--runtimeconfig", WriteRuntimeConfig(hostDll, runtimeSwitches, folder), hostDll]
            : [hostDll];
        arguments.AddRange(["--urls", baseAddress.ToString().TrimEnd('/')]);
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Sqlite"] = $"Data Source={Path.Combine(folder, "gw.db")}",
            ["Demo__Seed"] = "false",
            ["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true",
            ["Gateway__RequestsPerSecondPerKey"] = "1000000",
            ["Gateway__BurstPerKey"] = "1000000",
            ["Gateway__MasterKeyFile"] = Path.Combine(folder, "master.key"),
            ["Usage__Spool__Directory"] = Path.Combine(folder, "spool"),
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (name, value) in extraEnvironment)
        {
            environment[name] = value;
        }

        return StartAsync(folder, baseAddress, arguments, environment, "/v0/ping");
    }

    /// <summary>This benchmark's own bare forwarding proxy (<see cref="BareProxy"/>), with server GC like the host.</summary>
    public static Task<ServerProcess> StartBareProxyAsync(Uri upstream)
    {
        var folder = Directory.CreateTempSubdirectory("ultrarepo-bare-proxy-").FullName;
        var baseAddress = new Uri($"http://127.0.0.1:{FreePort()}");
        var self = typeof(ServerProcess).Assembly.Location;
        return StartAsync(folder, baseAddress, [self, "gateway-load", BareProxy.Command, upstream.ToString(), baseAddress.ToString()],
            new Dictionary<string, string> { ["DOTNET_gcServer"] = "1" }, BareProxy.ReadyPath);
    }

    private static async Task<ServerProcess> StartAsync(string folder, Uri baseAddress, IEnumerable<string> arguments, Dictionary<string, string> environment, string readyPath)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var log = new StreamWriter(Path.Combine(folder, "server.log")) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(log, e.Data);
        process.ErrorDataReceived += (_, e) => Append(log, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(process, log, baseAddress, folder);
        await server.WaitUntilUpAsync(readyPath, TimeSpan.FromSeconds(90));
        return server;
    }

    private async Task WaitUntilUpAsync(string readyPath, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with code {_process.ExitCode}; see {LogPath}:\n{Tail()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(readyPath, UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"the server did not answer GET {readyPath} within {timeout.TotalSeconds:0} s; see {LogPath}:\n{Tail()}");
    }

    /// <summary>
    /// Waits until the process's background work (for the gateway: shipping usage events to the database,
    /// catalog refreshes) has calmed down, so it does not steal CPU from the next measurement.
    /// </summary>
    public async Task WaitUntilIdleAsync(TimeSpan timeout)
    {
        var window = TimeSpan.FromMilliseconds(500);
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        double busy;
        do
        {
            var before = CpuTime;
            await Task.Delay(window);
            busy = (CpuTime - before) / window;
        }
        while (busy > 0.05 && Stopwatch.GetTimestamp() < deadline);
    }

    /// <summary>Lines of the log that are warnings or failures.</summary>
    public int ProblemLines()
    {
        lock (_log)
        {
            _log.Flush();
        }

        using var reader = new StreamReader(new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("warn:", StringComparison.Ordinal) || line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    private string Tail()
    {
        lock (_log)
        {
            _log.Flush();
        }

        using var reader = new StreamReader(new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return string.Join('\n', reader.ReadToEnd().Split('\n').TakeLast(30));
    }

    private static void Append(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    private static string WriteRuntimeConfig(string hostDll, IReadOnlyDictionary<string, string> switches, string folder)
    {
        var original = Path.ChangeExtension(hostDll, ".runtimeconfig.json");
        var config = JsonNode.Parse(File.ReadAllText(original))!;
        var properties = config["runtimeOptions"]!["configProperties"] ??= new JsonObject();
        foreach (var (name, value) in switches)
        {
            properties[name] = bool.TryParse(value, out var flag) ? JsonValue.Create(flag)
                : long.TryParse(value, CultureInfo.InvariantCulture, out var number) ? JsonValue.Create(number)
                : JsonValue.Create(value);
        }

        var path = Path.Combine(folder, "gateway.runtimeconfig.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The dotnet host running this benchmark, so the servers run on the same runtime.</summary>
    private static string DotnetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
