using UltraRepo.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddMarketplace();

var app = builder.Build();
app.MapMarketplace();

return await app.RunMarketplaceAsync(args);

/// <summary>Entry point, visible to WebApplicationFactory in tests.</summary>
public partial class Program;
