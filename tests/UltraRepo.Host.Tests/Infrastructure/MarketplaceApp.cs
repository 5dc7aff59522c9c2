using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace UltraRepo.Host.Tests.Infrastructure;

/// <summary>
/// One marketplace host per test (class) on its own database, with a controllable clock, plus helpers
/// to create users with API keys.
/// </summary>
public sealed class MarketplaceApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings = new();
    private int _users;

    private readonly Action<IServiceCollection>? _services;

    public MarketplaceApp(Provider provider = Provider.Sqlite, Action<Dictionary<string, string?>>? configure = null, Action<IServiceCollection>? services = null)
    {
        _services = services;
        Provider = provider;
        ConnectionString = provider == Provider.Sqlite ? TestDatabases.NewSqlite() : TestDatabases.NewPostgres();
        _settings[provider == Provider.Sqlite ? "ConnectionStrings:Sqlite" : "ConnectionStrings:Postgres"] = ConnectionString;
        _settings["Database:MigrateOnStart"] = "true";
        _settings["Demo:Seed"] = "false";
        _settings["Demo:CredentialsFile"] = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", Guid.NewGuid().ToString("N") + ".json");
        _settings["ULTRAREPO_ALLOW_PRIVATE_UPSTREAMS"] = "false";
        _settings["Usage:Spool:Directory"] = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "spool-" + Guid.NewGuid().ToString("N"));
        _settings["Gateway:MasterKeyFile"] = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", Guid.NewGuid().ToString("N") + ".key");
        configure?.Invoke(_settings);
    }

    public Provider Provider { get; }

    public string ConnectionString { get; }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero));

    /// <summary>Every log line the host wrote (to prove secrets never reach the logs).</summary>
    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            _services?.Invoke(services);
        });
        builder.ConfigureLogging(logging => logging.AddProvider(Logs).SetMinimumLevel(LogLevel.Debug));
    }

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>Registers a user, signs in with a cookie, and creates an API key.</summary>
    public async Task<TestUser> CreateUserAsync(string? handle = null)
    {
        handle ??= $"user{Interlocked.Increment(ref _users)}";
        var cookies = CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true, BaseAddress = ClientOptions.BaseAddress });
        var email = $"{handle}@example.com";
        const string password = "correct-horse-42";
        var register = await cookies.PostAsJsonAsync("/api/auth/register", new { email, password, handle });
        register.EnsureSuccessStatusCode();
        (await cookies.PostAsJsonAsync("/api/auth/login", new { email, password })).EnsureSuccessStatusCode();
        var key = await (await cookies.PostAsJsonAsync("/api/keys", new { name = "test" })).Content.ReadFromJsonAsync<CreatedKey>();
        var bearer = CreateClient();
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key!.Key);
        return new TestUser(handle, email, password, key.Key, cookies, bearer);
    }

    /// <summary>Promotes a user to admin directly in the database (the operator's env bootstrap is tested separately).</summary>
    public async Task<TestUser> CreateAdminAsync(string handle = "root")
    {
        var user = await CreateUserAsync(handle);
        using var scope = Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<UltraRepo.Data.MarketplaceDb>();
        var row = db.Users.Single(u => u.Handle == handle);
        row.IsAdmin = true;
        await db.SaveChangesAsync();
        // A fresh key picks up the admin flag (keys are cached briefly with their owner).
        var key = await (await user.Cookies.PostAsJsonAsync("/api/keys", new { name = "admin" })).Content.ReadFromJsonAsync<CreatedKey>();
        var bearer = CreateClient();
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key!.Key);
        return user with { Key = key.Key, Api = bearer };
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            TestDatabases.Drop(Provider, ConnectionString);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        TestDatabases.Drop(Provider, ConnectionString);
    }

    private sealed record CreatedKey(Guid Id, string Key);
}

/// <summary>A signed-up user: <see cref="Cookies"/> is signed in with a session cookie, <see cref="Api"/> sends the API key.</summary>
public sealed record TestUser(string Handle, string Email, string Password, string Key, HttpClient Cookies, HttpClient Api)
{
    public string Namespace => $"com.ultrarepo.{Handle}";
}

/// <summary>Keeps every formatted log message, with its exception text.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
