using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Demo;
using UltraRepo.Registry;

namespace UltraRepo.Hosting;

/// <summary>
/// What the host does when started: <c>migrate</c> applies the schema and exits, <c>import &lt;file|url&gt;</c>
/// imports a registry and exits, no argument serves the marketplace.
/// </summary>
public static class MarketplaceCommands
{
    public static async Task<int> RunMarketplaceAsync(this WebApplication app, string[] args)
    {
        // A command comes first; anything else (--urls x, Key=Value) is configuration.
        var command = args is [var first, ..] && !first.StartsWith('-') && !first.Contains('=', StringComparison.Ordinal) ? first : null;
        switch (command)
        {
            case "migrate":
                await MigrateAsync(app.Services);
                Console.WriteLine("Database is up to date.");
                return 0;
            case "import":
                return await ImportAsync(app.Services, args.ElementAtOrDefault(1));
            case null:
                break;
            default:
                Console.Error.WriteLine($"Unknown command '{command}'. Commands: migrate, import <file|url>; none to serve.");
                return 2;
        }

        var demo = await InitializeAsync(app.Services, app.Configuration, app.Lifetime.ApplicationStopping);
        app.Lifetime.ApplicationStarted.Register(() => PrintBanner(app, demo));
        await app.RunAsync();
        return 0;
    }

    /// <summary>Schema, admin and demo data; run before serving.</summary>
    public static async Task<DemoCredentials?> InitializeAsync(IServiceProvider root, IConfiguration configuration, CancellationToken ct)
    {
        var database = root.GetRequiredService<DatabaseOptions>();
        if (database.Provider == DatabaseProvider.Sqlite || database.MigrateOnStart)
        {
            await MigrateAsync(root);
        }
        else
        {
            await using var check = root.CreateAsyncScope();
            var pending = await check.ServiceProvider.GetRequiredService<MarketplaceDb>().Database.GetPendingMigrationsAsync(ct);
            if (pending.Any())
            {
                throw new InvalidOperationException(
                    $"The PostgreSQL schema is {pending.Count()} migration(s) behind. Run `dotnet run --project src/UltraRepo.Host -- migrate` (or set Database__MigrateOnStart=true).");
            }
        }

        await using var scope = root.CreateAsyncScope();
        await AdminBootstrap.EnsureAdminAsync(scope.ServiceProvider, configuration, ct);
        var seed = root.GetRequiredService<IOptions<DemoOptions>>().Value.Seed ?? database.Provider == DatabaseProvider.Sqlite;
        return seed ? await scope.ServiceProvider.GetRequiredService<DemoData>().EnsureAsync(ct) : null;
    }

    public static async Task MigrateAsync(IServiceProvider root)
    {
        await using var scope = root.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
        await db.Database.MigrateAsync();
        if (db.Provider == DatabaseProvider.Sqlite)
        {
            // WAL lets readers run beside the single writer; it is a property of the file, set once.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
            await Metering.UsageRollupBackfill.RunAsync(db, CancellationToken.None);
        }
    }

    private static async Task<int> ImportAsync(IServiceProvider root, string? source)
    {
        if (string.IsNullOrEmpty(source))
        {
            Console.Error.WriteLine("Usage: import <list-response.json | https://registry.example.com>");
            return 2;
        }

        var isUrl = Uri.TryCreate(source, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps);
        if (!isUrl && !File.Exists(source))
        {
            Console.Error.WriteLine($"import: no file at {Path.GetFullPath(source)} (give a registry list response saved as JSON, or the registry's https:// URL)");
            return 2;
        }

        await MigrateAsync(root);
        await using var scope = root.CreateAsyncScope();
        var importer = scope.ServiceProvider.GetRequiredService<RegistryImporter>();
        ImportReport report;
        try
        {
            if (isUrl)
            {
                report = await importer.ImportFromUpstreamAsync(url!, CancellationToken.None);
            }
            else
            {
                await using var file = File.OpenRead(source);
                report = await importer.ImportAsync(file, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or System.Text.Json.JsonException or InvalidDataException)
        {
            Console.Error.WriteLine($"import: could not read {source}: {e.Message}");
            return 1;
        }

        foreach (var entry in report.Entries.Where(e => e.Result == RegistryImporter.Rejected))
        {
            Console.WriteLine($"rejected  {entry.Name}@{entry.Version}: {string.Join("; ", entry.Reasons.Select(r => $"{r.Location}: {r.Message}"))}");
        }

        Console.WriteLine($"imported {report.Imported}, updated {report.Updated}, unchanged {report.Unchanged}, rejected {report.Rejected}");
        return 0;
    }

    private static void PrintBanner(WebApplication app, DemoCredentials? demo)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var url = addresses.FirstOrDefault() ?? MarketplaceHost.DefaultUrl;
        var provider = app.Services.GetRequiredService<DatabaseOptions>().Provider;
        Console.WriteLine();
        Console.WriteLine($"  UltraRepo marketplace is running at {url}  ({provider})");
        Console.WriteLine($"    API docs:        {url}/docs");
        Console.WriteLine($"    Registry API:    {url}/v0.1/servers");
        Console.WriteLine($"    Demo MCP server: {url}{DemoMcpServer.Path}");
        if (demo is not null)
        {
            Console.WriteLine("  Demo accounts (password for all: " + DemoData.Password + "):");
            foreach (var account in demo.Accounts)
            {
                Console.WriteLine($"    {account.Role,-10} {account.Email,-24} handle {account.Handle}");
            }

            Console.WriteLine($"  Demo consumer API key (bob): {demo.ConsumerApiKey}");
            Console.WriteLine($"  Demo listing: {demo.DemoServer} -> gateway {demo.GatewayUrl}");
        }

        Console.WriteLine();
    }
}
