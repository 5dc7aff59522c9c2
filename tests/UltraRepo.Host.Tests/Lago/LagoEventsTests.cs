using System.Text.Json.Nodes;
using UltraRepo.Lago;
using UltraRepo.Metering;

namespace UltraRepo.Host.Tests.Lago;

/// <summary>Our usage events in Lago's event shape, and how a refused batch is read.</summary>
public sealed class LagoEventsTests
{
    [Fact]
    public void Event_HasLagosFieldsWithOurIdsAndTokens()
    {
        var usage = LagoTestEvents.Billable(new DateTime(2026, 11, 2, 9, 0, 0, 123, DateTimeKind.Utc).AddTicks(4567), input: 120, output: 30);

        var json = LagoEvents.ToLago(usage);

        Assert.True(JsonNode.DeepEquals(new JsonObject
        {
            ["transaction_id"] = usage.Id.ToString(),
            ["external_subscription_id"] = usage.SubscriptionId.ToString(),
            ["code"] = "mcp_tokens",
            ["timestamp"] = "1793610000.123",
            ["properties"] = new JsonObject { ["tokens_input"] = 120, ["tokens_output"] = 30, ["total_tokens"] = 150 },
        }, json), json.ToJsonString());
    }

    [Fact]
    public void OnlyBillableEventsOfASubscription_AreForwarded()
    {
        var at = new DateTime(2026, 11, 2, 9, 0, 0, DateTimeKind.Utc);
        Assert.True(LagoEvents.IsForwarded(LagoTestEvents.Billable(at)));
        Assert.True(LagoEvents.IsForwarded(LagoTestEvents.Billable(at, outcome: UsageOutcome.RpcError)));
        Assert.False(LagoEvents.IsForwarded(LagoTestEvents.Billable(at, outcome: UsageOutcome.Denied)));
        Assert.False(LagoEvents.IsForwarded(LagoTestEvents.Billable(at, outcome: UsageOutcome.UpstreamError)));
        Assert.False(LagoEvents.IsForwarded(LagoTestEvents.Billable(at, subscription: false)));
    }

    [Fact]
    public void RefusedBatch_SeparatesStoredTransactionsFromInvalidEvents()
    {
        var body = JsonNode.Parse("""
            {"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{
              "0":{"transaction_id":["value_already_exist"]},
              "2":{"timestamp":["invalid_format"]}}}
            """);

        var errors = LagoEvents.ReadBatchErrors(new LagoResponse(422, body, "", null), 3)!;

        Assert.Equal([0], errors.AlreadyStored);
        Assert.Equal([2], errors.Invalid.Keys);
        Assert.Contains("invalid_format", errors.Invalid[2]);
    }

    [Theory]
    [InlineData("""{"error_details":{"events":["too_many_events"]}}""")]
    [InlineData("""{"error_details":{"7":{"transaction_id":["value_already_exist"]}}}""")]
    [InlineData("""{"error":"Unprocessable Entity"}""")]
    public void RefusalNotNamingEventsOfTheBatch_IsABatchRefusal(string json) =>
        Assert.Null(LagoEvents.ReadBatchErrors(new LagoResponse(422, JsonNode.Parse(json), json, null), 3));
}

internal static class LagoTestEvents
{
    public static UsageEvent Billable(DateTime at, long input = 10, long output = 5, string outcome = UsageOutcome.Ok, bool subscription = true) => new()
    {
        Timestamp = at,
        Period = at.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture),
        ConsumerId = Guid.NewGuid(),
        SubscriptionId = subscription ? Guid.NewGuid() : null,
        ServerName = "io.example/weather",
        Method = "tools/call",
        InputTokens = input,
        OutputTokens = output,
        TotalTokens = input + output,
        Outcome = outcome,
        HttpStatus = 200,
        Currency = "USD",
    };
}
