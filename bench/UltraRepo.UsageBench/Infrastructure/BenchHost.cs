using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using UltraRepo.Hosting;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>
/// The marketplace host in this process, composed exactly as <c>src/UltraRepo.Host/Program.cs</c> does
/// (<c>AddMarketplace</c>, <c>MapMarketplace</c>), on a private database, spool, master key and outbox.
/// Started on Kestrel (a real loopback port) when the benchmark needs HTTP; otherwise only built, so its
/// services can be used without the background services running.
/// </summary>
public sealed class BenchHost : IAsyncDisposable
{
    private readonly DirectoryInfo _work;
    private bool _started;

    private BenchHost(WebApplication app, DirectoryInfo work, BenchDatabase database)
    {
        App = app;
        _work = work;
        Database = database;
    }

    public WebApplication App { get; }

    public BenchDatabase Database { get; }

    public IServiceProvider Services => App.Services;

    public string OutboxDirectory => Path.Combine(_work.FullName, "outbox");

    public string SpoolDirectory => Path.Combine(_work.FullName, "spool");

    /// <summary>The Kestrel address once started.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Builds the host and migrates its database; <paramref name="listen"/> also starts it on a loopback port.</summary>
    public static async Task<BenchHost> CreateAsync(BenchDatabase database, bool listen, IDictionary<string, string?>? settings = null)
    {
        var work = Directory.CreateTempSubdirectory("ultrarepo-bench-host-");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = work.FullName });
        var configuration = new Dictionary<string, string?>
        {
            [database.Setting.Key] = database.Setting.Value,
            ["urls"] = "http://127.0.0.1:0",
            ["Database:MigrateOnStart"] = "true",
            ["Demo:Seed"] = "false",
            ["Usage:Spool:Directory"] = Path.Combine(work.FullName, "spool"),
            ["Gateway:MasterKeyFile"] = Path.Combine(work.FullName, "master.key"),
            ["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "true",
            // The load comes from a handful of keys on one address: no per-key or login throttling.
            ["Gateway:RequestsPerSecondPerKey"] = "100000000",
            ["Gateway:BurstPerKey"] = "100000000",
            ["Accounts:LoginAttemptsPerMinute"] = "1000000",
            ["Billing:ScheduledClose"] = "false",
            ["Billing:Mail:OutboxDirectory"] = Path.Combine(work.FullName, "outbox"),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(configuration);
        builder.AddMarketplace();
        // After AddMarketplace, so these filters win over its own: keep the benchmark's output to the tables.
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("UltraRepo", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        // EF logs the first migration's probe of the missing history table as an error; failures surface as exceptions anyway.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", Options.SqlLog ? LogLevel.Information : LogLevel.None);

        var app = builder.Build();
        app.MapMarketplace();
        await MarketplaceCommands.MigrateAsync(app.Services);
        var host = new BenchHost(app, work, database);
        if (listen)
        {
            await app.StartAsync();
            host._started = true;
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            host.BaseAddress = new Uri(address);
        }

        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await App.StopAsync(timeout.Token);
        }

        await App.DisposeAsync();
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the folder is under the temp directory.
        }
    }

    /// <summary>Process-wide switches from the command line.</summary>
    public static class Options
    {
        /// <summary><c>--sql-log</c>: EF Core logs every command with its duration (for finding slow queries).</summary>
        public static bool SqlLog { get; set; }
    }
}
