using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using UltraRepo.Metering;
using UltraRepo.Metering.Ingest;

namespace UltraRepo.Lago;

/// <summary>
/// Our usage events in Lago's event shape (the one <c>POST /api/v1/events/batch</c> takes, and our own ingest
/// API accepts): <c>transaction_id</c> is our event id, so a resent event is the same transaction to Lago.
/// </summary>
public static class LagoEvents
{
    /// <summary>The billable metric every event targets (our own ingest API uses the same code).</summary>
    public const string MetricCode = IngestUsage.MetricCode;

    /// <summary>Only billable events of a subscription go to Lago: Lago attributes usage to subscriptions.</summary>
    public static bool IsForwarded(UsageEvent usage) => usage.IsBillable && usage.SubscriptionId is not null;

    public static JsonObject ToLago(UsageEvent usage) => new()
    {
        ["transaction_id"] = usage.Id.ToString(),
        ["external_subscription_id"] = (usage.SubscriptionId ?? throw new ArgumentException("the event has no subscription", nameof(usage))).ToString(),
        ["code"] = MetricCode,
        ["timestamp"] = UnixSeconds(usage.Timestamp),
        ["properties"] = new JsonObject
        {
            ["tokens_input"] = usage.InputTokens,
            ["tokens_output"] = usage.OutputTokens,
            ["total_tokens"] = usage.TotalTokens,
        },
    };

    /// <summary>
    /// Unix seconds with milliseconds, as a string (<c>"1793610000.123"</c>): Lago documents millisecond
    /// precision and takes fractional timestamps as strings (its schema allows an integer or a string).
    /// </summary>
    public static string UnixSeconds(DateTime utc)
    {
        var milliseconds = (utc - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond;
        return string.Create(CultureInfo.InvariantCulture, $"{milliseconds / 1000}.{milliseconds % 1000:D3}");
    }

    /// <summary>
    /// Reads a 422 for a batch. Lago validates every event and, when any fails, stores none and answers
    /// <c>error_details</c> keyed by the event's index, e.g. <c>{"3": {"transaction_id": ["value_already_exist"]}}</c>.
    /// A transaction that already exists is already in Lago (an earlier attempt got through); the other
    /// listed events are invalid; the unlisted ones were valid but not stored. Null when the errors are not per
    /// event (e.g. <c>{"events": ["too_many_events"]}</c>): the batch as a whole was refused.
    /// </summary>
    public static BatchErrors? ReadBatchErrors(LagoResponse response, int count)
    {
        if (response.Status != 422 || response.Body?["error_details"] is not JsonObject details || details.Count == 0)
        {
            return null;
        }

        var alreadyStored = new HashSet<int>();
        var invalid = new Dictionary<int, string>();
        foreach (var (key, value) in details)
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= count)
            {
                return null;
            }

            if (value is JsonObject fields && fields.Count == 1 && fields["transaction_id"] is JsonArray codes
                && codes.Count > 0 && codes.All(c => c?.GetValueKind() == JsonValueKind.String && (string?)c == "value_already_exist"))
            {
                alreadyStored.Add(index);
            }
            else
            {
                invalid[index] = value?.ToJsonString() ?? "null";
            }
        }

        return new BatchErrors(alreadyStored, invalid);
    }
}

/// <summary>Per-event outcome of a refused batch: events Lago already has, and events it rejects (with its reason).</summary>
public sealed record BatchErrors(IReadOnlySet<int> AlreadyStored, IReadOnlyDictionary<int, string> Invalid);
