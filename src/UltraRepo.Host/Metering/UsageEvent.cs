using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UltraRepo.Metering;

/// <summary>
/// One metered JSON-RPC exchange (or a denied or limited attempt): who, which listing and version,
/// what was called, exact input and output tokens, and its marginal cost under the period's price.
/// </summary>
public sealed class UsageEvent
{
    public Guid Id { get; init; } = Guid.CreateVersion7();
    public DateTime Timestamp { get; init; }
    /// <summary>"yyyy-MM" of <see cref="Timestamp"/> (UTC), the billing period.</summary>
    public required string Period { get; init; }
    public Guid ConsumerId { get; init; }
    public Guid? KeyId { get; init; }
    public Guid? SubscriptionId { get; init; }
    public required string ServerName { get; init; }
    public string? ServerVersion { get; init; }
    public string? Method { get; init; }
    /// <summary>Tool or prompt name, or resource URI.</summary>
    public string? Target { get; init; }
    public string? JsonRpcId { get; init; }
    public string? SessionId { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long TotalTokens { get; init; }
    public int LatencyMs { get; init; }
    public required string Outcome { get; init; }
    public int HttpStatus { get; init; }
    public decimal Cost { get; init; }
    public required string Currency { get; init; }
    public string? Tokenizer { get; init; }
    /// <summary>Where the event came from: the gateway, or a publisher's ingest call.</summary>
    public string Source { get; init; } = UsageSource.Gateway;
    /// <summary>The publisher's Lago transaction id, for ingested events.</summary>
    public string? TransactionId { get; init; }

    /// <summary>Only these outcomes are charged and count toward month-to-date usage.</summary>
    public bool IsBillable => Outcome is UsageOutcome.Ok or UsageOutcome.RpcError;
}

public static class UsageOutcome
{
    public const string Ok = "ok";
    public const string RpcError = "rpc_error";
    public const string UpstreamError = "upstream_error";
    public const string Denied = "denied";
    public const string Limited = "limited";
}

public static class UsageSource
{
    public const string Gateway = "gateway";
    public const string Ingest = "ingest";
}

internal sealed class UsageEventConfiguration : IEntityTypeConfiguration<UsageEvent>
{
    public void Configure(EntityTypeBuilder<UsageEvent> b)
    {
        b.Property(e => e.Period).HasMaxLength(7);
        b.Property(e => e.ServerName).HasMaxLength(200);
        b.Property(e => e.ServerVersion).HasMaxLength(255);
        b.Property(e => e.Method).HasMaxLength(128);
        b.Property(e => e.Target).HasMaxLength(512);
        b.Property(e => e.JsonRpcId).HasMaxLength(128);
        b.Property(e => e.SessionId).HasMaxLength(128);
        b.Property(e => e.Outcome).HasMaxLength(16);
        b.Property(e => e.Currency).HasMaxLength(3);
        b.Property(e => e.Tokenizer).HasMaxLength(32);
        b.Property(e => e.Source).HasMaxLength(16);
        b.Property(e => e.TransactionId).HasMaxLength(200);
        b.Ignore(e => e.IsBillable);
        // The only secondary index: a consumer's recent events (GET /api/consumer/usage/events). Dashboards and
        // billing read the rollups, so every further index would only slow down the write path.
        b.HasIndex(e => new { e.ConsumerId, e.Timestamp });
    }
}
