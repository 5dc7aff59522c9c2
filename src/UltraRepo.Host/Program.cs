using UltraRepo.Hosting;

// No configuration file watching: the content root holds ./data (spool segments, SQLite), and the recursive
// watcher behind reloadOnChange woke up on every usage event written (a quarter of the gateway's CPU under load).
var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. args]);
builder.AddMarketplace();

var app = builder.Build();
app.MapMarketplace();

return await app.RunMarketplaceAsync(args);

/// <summary>Entry point, visible to WebApplicationFactory in tests.</summary>
public partial class Program;
