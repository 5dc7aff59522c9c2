using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace UltraRepo.Host.Tests.Billing.Stripe;

/// <summary>One request as it reached the stand-in: the form body parsed into keys such as <c>line_items[0][price_data][unit_amount]</c>.</summary>
public sealed record StripeRequest(string Method, string Path, IReadOnlyDictionary<string, string> Form, string? Authorization, string? IdempotencyKey, string? StripeVersion)
{
    public string this[string key] => Form.TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"{Method} {Path} has no form field {key}; it has {string.Join(", ", Form.Keys)}");
}

/// <summary>
/// A local stand-in for the Stripe API (Kestrel on 127.0.0.1, free port) that the real Stripe.net client talks
/// to: it records every request exactly and answers the endpoints the marketplace uses with objects shaped
/// like Stripe's (ids with Stripe's prefixes, <c>object</c>, <c>url</c>, <c>hosted_invoice_url</c>, statuses),
/// replays the first answer for a repeated <c>Idempotency-Key</c> the way Stripe does, and rejects a wrong key.
/// </summary>
public sealed partial class StripeStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _apiKey;
    private readonly ConcurrentDictionary<string, (int Status, string Body)> _replays = new();
    private readonly ConcurrentDictionary<string, JsonObject> _invoices = new();
    private readonly ConcurrentQueue<(string Path, int Status, string Code, string Message)> _failures = new();
    private readonly Lock _lock = new();
    private int _sequence;

    private StripeStandIn(WebApplication app, string apiKey)
    {
        _app = app;
        _apiKey = apiKey;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<StripeRequest> Requests { get; } = new();

    public IReadOnlyList<StripeRequest> To(string path) => Requests.Where(r => r.Path == path).ToList();

    public static async Task<StripeStandIn> StartAsync(string apiKey)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new StripeStandIn(app, apiKey);
        app.Run(standIn.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        standIn.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return standIn;
    }

    /// <summary>The next request to this path fails with a Stripe error (e.g. 400 <c>charge_already_refunded</c>).</summary>
    public void FailNext(string path, int status, string code, string message) => _failures.Enqueue((path, status, code, message));

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var form = request.HasFormContentType
            ? (await request.ReadFormAsync()).ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        var recorded = new StripeRequest(request.Method, request.Path.Value ?? "", form, Header("Authorization"), Header("Idempotency-Key"), Header("Stripe-Version"));
        Requests.Enqueue(recorded);

        (int Status, string Body) answer;
        if (recorded.Authorization != "Bearer " + _apiKey)
        {
            answer = Error(401, "authentication_error", null, "Invalid API Key provided.");
        }
        else if (recorded.IdempotencyKey is { } key && _replays.TryGetValue(key, out var replay))
        {
            answer = replay;
        }
        else
        {
            answer = TakeFailure(recorded.Path) ?? Answer(recorded);
            if (recorded.IdempotencyKey is { } first)
            {
                _replays.TryAdd(first, answer);
            }
        }

        context.Response.StatusCode = answer.Status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["Request-Id"] = "req_standin_" + Interlocked.Increment(ref _sequence);
        await context.Response.WriteAsync(answer.Body);

        string? Header(string name) => request.Headers.TryGetValue(name, out var value) ? value.ToString() : null;
    }

    private (int, string)? TakeFailure(string path)
    {
        lock (_lock)
        {
            if (_failures.TryPeek(out var failure) && failure.Path == path && _failures.TryDequeue(out _))
            {
                return Error(failure.Status, "invalid_request_error", failure.Code, failure.Message);
            }
        }

        return null;
    }

    private (int, string) Answer(StripeRequest r)
    {
        if (r.Method != "POST")
        {
            return Unknown(r);
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        switch (r.Path)
        {
            case "/v1/checkout/sessions":
            {
                var id = Id("cs_test_");
                return Ok(new JsonObject
                {
                    ["id"] = id,
                    ["object"] = "checkout.session",
                    ["mode"] = r.Form.GetValueOrDefault("mode"),
                    ["status"] = "open",
                    ["payment_status"] = "unpaid",
                    ["url"] = "https://checkout.stripe.com/c/pay/" + id,
                    ["client_reference_id"] = r.Form.GetValueOrDefault("client_reference_id"),
                    ["customer_email"] = r.Form.GetValueOrDefault("customer_email"),
                    ["currency"] = r.Form.GetValueOrDefault("line_items[0][price_data][currency]"),
                    ["amount_total"] = Amount(r, "line_items[0][price_data][unit_amount]") * Amount(r, "line_items[0][quantity]"),
                    ["success_url"] = r.Form.GetValueOrDefault("success_url"),
                    ["cancel_url"] = r.Form.GetValueOrDefault("cancel_url"),
                    ["payment_intent"] = null,
                    ["metadata"] = Metadata(r, "metadata"),
                    ["created"] = now,
                    ["expires_at"] = now + 86_400,
                    ["livemode"] = false,
                });
            }

            case "/v1/customers":
                return Ok(new JsonObject
                {
                    ["id"] = Id("cus_test_"),
                    ["object"] = "customer",
                    ["email"] = r.Form.GetValueOrDefault("email"),
                    ["metadata"] = Metadata(r, "metadata"),
                    ["created"] = now,
                    ["livemode"] = false,
                });

            case "/v1/invoices":
            {
                var invoice = new JsonObject
                {
                    ["id"] = Id("in_test_"),
                    ["object"] = "invoice",
                    ["status"] = "draft",
                    ["customer"] = r.Form.GetValueOrDefault("customer"),
                    ["currency"] = r.Form.GetValueOrDefault("currency"),
                    ["collection_method"] = r.Form.GetValueOrDefault("collection_method"),
                    ["auto_advance"] = r.Form.GetValueOrDefault("auto_advance") == "true",
                    ["amount_due"] = 0L,
                    ["total"] = 0L,
                    ["hosted_invoice_url"] = null,
                    ["metadata"] = Metadata(r, "metadata"),
                    ["created"] = now,
                    ["livemode"] = false,
                };
                _invoices[(string)invoice["id"]!] = invoice;
                return Ok(invoice);
            }

            case "/v1/invoiceitems":
            {
                var amount = Amount(r, "amount");
                if (r.Form.GetValueOrDefault("invoice") is { } invoiceId && _invoices.TryGetValue(invoiceId, out var invoice))
                {
                    lock (_lock)
                    {
                        invoice["amount_due"] = (long)invoice["amount_due"]! + amount;
                        invoice["total"] = (long)invoice["total"]! + amount;
                    }
                }

                return Ok(new JsonObject
                {
                    ["id"] = Id("ii_test_"),
                    ["object"] = "invoiceitem",
                    ["amount"] = amount,
                    ["currency"] = r.Form.GetValueOrDefault("currency"),
                    ["customer"] = r.Form.GetValueOrDefault("customer"),
                    ["description"] = r.Form.GetValueOrDefault("description"),
                    ["invoice"] = r.Form.GetValueOrDefault("invoice"),
                    ["date"] = now,
                    ["livemode"] = false,
                });
            }

            case "/v1/refunds":
                return Ok(new JsonObject
                {
                    ["id"] = Id("re_test_"),
                    ["object"] = "refund",
                    ["amount"] = 2900,
                    ["currency"] = "usd",
                    ["payment_intent"] = r.Form.GetValueOrDefault("payment_intent"),
                    ["status"] = "succeeded",
                    ["metadata"] = Metadata(r, "metadata"),
                    ["created"] = now,
                });

            case "/v1/transfers":
                return Ok(new JsonObject
                {
                    ["id"] = Id("tr_test_"),
                    ["object"] = "transfer",
                    ["amount"] = Amount(r, "amount"),
                    ["amount_reversed"] = 0,
                    ["currency"] = r.Form.GetValueOrDefault("currency"),
                    ["destination"] = r.Form.GetValueOrDefault("destination"),
                    ["transfer_group"] = r.Form.GetValueOrDefault("transfer_group"),
                    ["description"] = r.Form.GetValueOrDefault("description"),
                    ["metadata"] = Metadata(r, "metadata"),
                    ["reversed"] = false,
                    ["created"] = now,
                    ["livemode"] = false,
                });
        }

        var action = InvoiceAction().Match(r.Path);
        if (action.Success && _invoices.TryGetValue(action.Groups["id"].Value, out var existing))
        {
            lock (_lock)
            {
                if (action.Groups["action"].Value == "finalize")
                {
                    if ((string?)existing["status"] != "draft")
                    {
                        return Error(400, "invalid_request_error", "invoice_not_editable", "This invoice is already finalized.");
                    }

                    existing["status"] = "open";
                    existing["number"] = "STANDIN-" + Interlocked.Increment(ref _sequence).ToString("D4");
                    existing["hosted_invoice_url"] = "https://invoice.stripe.com/i/acct_standin/test_" + existing["id"];
                    existing["invoice_pdf"] = "https://pay.stripe.com/invoice/acct_standin/test_" + existing["id"] + "/pdf";
                }
                else if ((string?)existing["status"] == "draft")
                {
                    return Error(400, "invalid_request_error", "invoice_not_editable", "You can only send an invoice that is open.");
                }

                return Ok(existing);
            }
        }

        return Unknown(r);
    }

    private string Id(string prefix) => prefix + "StandIn" + Interlocked.Increment(ref _sequence).ToString("D6");

    private static long Amount(StripeRequest r, string key) => long.Parse(r.Form.GetValueOrDefault(key) ?? "0", System.Globalization.CultureInfo.InvariantCulture);

    private static JsonObject Metadata(StripeRequest r, string prefix)
    {
        var metadata = new JsonObject();
        foreach (var (key, value) in r.Form.Where(f => f.Key.StartsWith(prefix + "[", StringComparison.Ordinal)))
        {
            metadata[key[(prefix.Length + 1)..^1]] = value;
        }

        return metadata;
    }

    private static (int, string) Ok(JsonObject body) => (200, body.ToJsonString());

    private static (int, string) Unknown(StripeRequest r) =>
        Error(404, "invalid_request_error", null, $"Unrecognized request URL ({r.Method}: {r.Path}).");

    private static (int, string) Error(int status, string type, string? code, string message) =>
        (status, new JsonObject { ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["message"] = message } }.ToJsonString());

    [GeneratedRegex("^/v1/invoices/(?<id>[^/]+)/(?<action>finalize|send)$")]
    private static partial Regex InvoiceAction();

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
