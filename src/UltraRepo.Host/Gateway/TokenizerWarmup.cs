using UltraRepo.Domain.Metering;

namespace UltraRepo.Gateway;

/// <summary>Builds the tokenizers in the background at start (about a second each), so no request pays for it.</summary>
public sealed class TokenizerWarmup(ILogger<TokenizerWarmup> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() =>
    {
        foreach (var name in Tokenizers.Supported)
        {
            Tokenizers.Get(name).CountTokens("warm up");
        }

        logger.LogDebug("Tokenizers ready: {Names}", string.Join(", ", Tokenizers.Supported));
    }, stoppingToken);
}
