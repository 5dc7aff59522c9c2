using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Data;
using UltraRepo.Domain.Common;
using UltraRepo.Http;

namespace UltraRepo.Billing;

public static partial class BillingApi
{
    public static IEndpointRouteBuilder MapBillingApi(this IEndpointRouteBuilder app)
    {
        var invoices = app.MapGroup("/api/invoices").WithTags("Billing").RequireAuthorization();
        invoices.MapGet("/", ListInvoices);
        invoices.MapGet("/{id}", GetInvoice);

        var licenses = app.MapGroup("/api/licenses").WithTags("Licenses").RequireAuthorization();
        licenses.MapPost("/checkout", Checkout);
        licenses.MapGet("/", ListLicenses);
        licenses.MapPost("/validate", Validate);
        app.MapGet("/.well-known/ultrarepo/license-keys.json", PublicKeys).WithTags("Licenses");

        var publisher = app.MapGroup("/api/publisher").WithTags("Billing").RequireAuthorization();
        publisher.MapGet("/earnings", Earnings);
        publisher.MapPut("/payout-account", SetPayoutAccount);

        var admin = app.MapGroup("/api/admin").WithTags("Admin").RequireAuthorization(AdminApi.AdminPolicy);
        admin.MapPost("/billing/close", Close);
        admin.MapPost("/billing/payouts", Payouts);
        admin.MapGet("/billing/reconciliation", Reconcile);
        admin.MapPost("/invoices/{id}/mark-paid", MarkPaid);
        admin.MapPost("/licenses/{id}/refund", Refund);
        if (Stripe.StripeOptions.IsConfigured(app.ServiceProvider.GetRequiredService<IConfiguration>()))
        {
            Stripe.StripeWebhookApi.MapStripeWebhook(app);
        }

        return app;
    }

    public sealed record LineResponse(int Position, string Kind, string Server, string Description, long Tokens, JsonElement Tiers, string Amount, string ExactAmount, string RoundingAdjustment, bool Prepaid, string? SourcePeriod);

    public sealed record InvoiceResponse(Guid Id, string Number, string Period, string Currency, string Status, string Total, string Prepaid, string AmountDue,
        DateTime FinalizedAt, DateTime? PaidAt, string? PaymentProvider, string? PaymentUrl, IReadOnlyList<LineResponse> Lines);

    public sealed record InvoiceSummary(Guid Id, string Number, string Period, string Currency, string Status, string Total, string AmountDue, DateTime FinalizedAt);

    public sealed record CheckoutRequest(string? Server);

    public sealed record LicenseResponse(Guid Id, string Server, string Status, string Price, string Currency, string? Key, bool Sandbox, string Provider, string? CheckoutUrl, DateTime CreatedAt, DateTime? ActivatedAt, DateTime? RevokedAt);

    public sealed record ValidateRequest(string? Key, string? Server);

    public sealed record ValidateResponse(bool Valid, string? Reason, Guid? LicenseId, string? Server, Guid? ConsumerId, DateTime? IssuedAt);

    public sealed record EarningsResponse(string Currency, string Balance, string Pending, string Paid);

    public sealed record PayoutAccountRequest(string? StripeAccountId);

    private static async Task<Ok<InvoiceSummary[]>> ListInvoices(ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct)
    {
        var consumerId = caller.GetUserId();
        var rows = await db.Invoices.AsNoTracking().Where(i => i.ConsumerId == consumerId).OrderByDescending(i => i.Period).ThenBy(i => i.Currency).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(i => new InvoiceSummary(i.Id, i.Number, i.Period, i.Currency, i.Status,
            Money.Format(i.Total, i.Currency), Money.Format(i.AmountDue, i.Currency), i.FinalizedAt)).ToArray());
    }

    /// <summary>JSON, or the printable HTML view with <c>?format=html</c> (or <c>Accept: text/html</c>).</summary>
    private static async Task<IResult> GetInvoice(Guid id, HttpRequest request, ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct, string? format = null)
    {
        var consumerId = caller.GetUserId();
        var invoice = await db.Invoices.AsNoTracking().Include(i => i.Lines)
            .FirstOrDefaultAsync(i => i.Id == id && (i.ConsumerId == consumerId || caller.IsAdmin()), ct);
        if (invoice is null)
        {
            return Problems.NotFound("no such invoice");
        }

        if (format == "html" || (format is null && request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase)))
        {
            var email = await db.Users.AsNoTracking().Where(u => u.Id == invoice.ConsumerId).Select(u => u.Email).FirstAsync(ct);
            return Results.Content(InvoiceDocuments.Html(invoice, email), "text/html; charset=utf-8");
        }

        return TypedResults.Ok(ToResponse(invoice));
    }

    public static InvoiceResponse ToResponse(Invoice i) => new(i.Id, i.Number, i.Period, i.Currency, i.Status,
        Money.Format(i.Total, i.Currency), Money.Format(i.Prepaid, i.Currency), Money.Format(i.AmountDue, i.Currency), i.FinalizedAt, i.PaidAt, i.PaymentProvider, i.PaymentUrl,
        i.Lines.OrderBy(l => l.Position).Select(l => new LineResponse(l.Position, l.Kind, l.ServerName, l.Description, l.Tokens, JsonSerializer.Deserialize<JsonElement>(l.Tiers),
            Money.Format(l.Amount, i.Currency), Money.Format(l.ExactAmount), Money.Format(l.RoundingAdjustment), l.Prepaid, l.SourcePeriod)).ToList());

    private static async Task<Results<Created<LicenseResponse>, ProblemHttpResult>> Checkout(CheckoutRequest request, ClaimsPrincipal caller, LicenseSales sales, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Server))
        {
            return Problems.Validation("body.server", "server (a listing name) is required");
        }

        return await sales.CheckoutAsync(caller.GetUserId(), request.Server.Trim(), ct) switch
        {
            CheckoutOutcome.Started started => TypedResults.Created($"/api/licenses/{started.License.Id}", ToResponse(started.License, started.CheckoutUrl)),
            CheckoutOutcome.AlreadyLicensed owned => Problems.Conflict($"you already hold license {owned.LicenseId} for {request.Server}", "body.server"),
            CheckoutOutcome.NotForSale notForSale => Problems.Validation("body.server", notForSale.Message, request.Server),
            _ => Problems.Validation("body.server", "no listing has this name", request.Server),
        };
    }

    private static async Task<Ok<LicenseResponse[]>> ListLicenses(ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct)
    {
        var consumerId = caller.GetUserId();
        var rows = await db.Licenses.AsNoTracking().Where(l => l.ConsumerId == consumerId).OrderByDescending(l => l.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(l => ToResponse(l, null)).ToArray());
    }

    private static LicenseResponse ToResponse(License l, string? checkoutUrl) =>
        new(l.Id, l.ServerName, l.Status, Money.Format(l.Price, l.Currency), l.Currency, l.Key, l.Sandbox, l.Provider, checkoutUrl, l.CreatedAt, l.ActivatedAt, l.RevokedAt);

    /// <summary>Online check: genuine signature, not revoked, and (when given) for this listing.</summary>
    private static async Task<Results<Ok<ValidateResponse>, ProblemHttpResult>> Validate(ValidateRequest request, LicenseSigner signer, MarketplaceDb db, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Key))
        {
            return Problems.Validation("body.key", "key (the license key to check) is required", request.Key);
        }

        var claims = await signer.VerifyAsync(request.Key, ct);
        if (claims is null)
        {
            return TypedResults.Ok(new ValidateResponse(false, "invalid_signature", null, null, null, null));
        }

        var license = await db.Licenses.AsNoTracking().FirstOrDefaultAsync(l => l.Id == claims.LicenseId, ct);
        var reason = license is null ? "unknown_license"
            : license.Status == LicenseStatus.Revoked ? "revoked"
            : license.Status != LicenseStatus.Active ? "not_active"
            : request.Server is not null && request.Server != claims.ServerName ? "other_listing"
            : null;
        return TypedResults.Ok(new ValidateResponse(reason is null, reason, claims.LicenseId, claims.ServerName, claims.ConsumerId, claims.IssuedAt));
    }

    private static async Task<IResult> PublicKeys(LicenseSigner signer, CancellationToken ct)
    {
        var keys = await signer.PublicKeysAsync(ct);
        return Results.Json(new
        {
            keys = keys.Select(k => new { kid = k.KeyId, kty = "OKP", crv = "Ed25519", use = "sig", alg = "EdDSA", x = LicenseSigner.Base64Url(k.PublicKey) }),
            format = "ulk_<base64url(payload JSON {v, lid, srv, sub, iat, kid})>.<base64url(Ed25519 signature of the payload bytes)>",
        });
    }

    private static async Task<Ok<EarningsResponse[]>> Earnings(ClaimsPrincipal caller, MarketplaceDb db, Microsoft.Extensions.Options.IOptions<BillingOptions> options, CancellationToken ct)
    {
        var publisherId = caller.GetUserId();
        var account = LedgerAccounts.Publisher(publisherId);
        var balances = await db.LedgerEntries.AsNoTracking().Where(e => e.Account == account)
            .GroupBy(e => e.Currency).Select(g => new { Currency = g.Key, Balance = g.Sum(e => e.Amount) }).ToListAsync(ct);
        var pendingLines = await db.InvoiceLines.AsNoTracking().Where(l => l.PublisherId == publisherId && !l.Prepaid)
            .Join(db.Invoices.AsNoTracking().Where(i => i.Status == InvoiceStatus.Open), l => l.InvoiceId, i => i.Id, (l, i) => new { i.Currency, l.Amount })
            .ToListAsync(ct);
        var paid = await db.Payouts.AsNoTracking().Where(p => p.PublisherId == publisherId && p.Status == PayoutStatus.Paid)
            .GroupBy(p => p.Currency).Select(g => new { Currency = g.Key, Amount = g.Sum(p => p.Amount) }).ToListAsync(ct);
        var currencies = balances.Select(b => b.Currency).Concat(pendingLines.Select(p => p.Currency)).Concat(paid.Select(p => p.Currency)).Distinct().Order(StringComparer.Ordinal);
        return TypedResults.Ok(currencies.Select(c => new EarningsResponse(c,
            Money.Format(balances.Where(b => b.Currency == c).Sum(b => b.Balance), c),
            Money.Format(pendingLines.Where(p => p.Currency == c).Sum(p => Domain.Billing.RevenueShare.Split(p.Amount, options.Value.PlatformFeeRate, c).PublisherEarning), c),
            Money.Format(paid.Where(p => p.Currency == c).Sum(p => p.Amount), c))).ToArray());
    }

    /// <summary><c>\z</c>, not <c>$</c>: a trailing newline must not match.</summary>
    [GeneratedRegex(@"\Aacct_[A-Za-z0-9]{1,94}\z")]
    private static partial Regex StripeAccountId();

    private static async Task<Results<NoContent, ProblemHttpResult>> SetPayoutAccount(PayoutAccountRequest request, ClaimsPrincipal caller, MarketplaceDb db, CancellationToken ct)
    {
        if (request.StripeAccountId is not { } id || !StripeAccountId().IsMatch(id))
        {
            return Problems.Validation("body.stripeAccountId", "a Stripe Connect account id: acct_ followed by 1 to 94 ASCII letters or digits, such as acct_1Nv0…", request.StripeAccountId);
        }

        var publisherId = caller.GetUserId();
        var existing = await db.PayoutAccounts.FirstOrDefaultAsync(a => a.PublisherId == publisherId, ct);
        if (existing is null)
        {
            db.PayoutAccounts.Add(new PayoutAccount { PublisherId = publisherId, StripeAccountId = id });
        }
        else
        {
            existing.StripeAccountId = id;
        }

        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<CloseSummary>, ProblemHttpResult>> Close(CloseBillingPeriod close, CancellationToken ct, string? period = null)
    {
        if (!CalendarQuery.TryMonth(period, out _))
        {
            return Problems.Validation("query.period", "period must be " + CalendarQuery.MonthRule, period);
        }

        if (!close.IsClosable(period!))
        {
            return Problems.Validation("query.period", $"{period} cannot be closed before it ends and its grace period passes", period);
        }

        return TypedResults.Ok(await close.CloseAsync(period!, ct));
    }

    private static async Task<Results<Ok<PayoutSummary>, ProblemHttpResult>> Payouts(PayoutRun run, TimeProvider clock, CancellationToken ct, string? period = null)
    {
        if (!CalendarQuery.TryMonth(period, out var start))
        {
            return Problems.Validation("query.period", "period must be " + CalendarQuery.MonthRule, period);
        }

        // A run pays the whole balance under the period's name: a month still running (or not begun) would take
        // earnings that belong to later months and leave the real month's run with nothing to pay.
        if (clock.GetUtcNow().UtcDateTime < start.AddMonths(1))
        {
            return Problems.Validation("query.period", $"{period} has not ended yet; payouts are run for past months only", period);
        }

        return TypedResults.Ok(await run.RunAsync(period!, ct));
    }

    private static async Task<Results<Ok<IReadOnlyList<ReconciliationReport>>, ProblemHttpResult>> Reconcile(Reconciliation reconciliation, CancellationToken ct, string? period = null)
    {
        if (!CalendarQuery.TryMonth(period, out _))
        {
            return Problems.Validation("query.period", "period must be " + CalendarQuery.MonthRule, period);
        }

        return TypedResults.Ok(await reconciliation.ReportAsync(period!, ct));
    }

    private static async Task<Results<Ok<InvoiceResponse>, ProblemHttpResult>> MarkPaid(Guid id, InvoicePayments payments, MarketplaceDb db, CancellationToken ct)
    {
        if (!await payments.MarkPaidAsync(id, "manual", "marked paid by an admin", ct))
        {
            var exists = await db.Invoices.AnyAsync(i => i.Id == id, ct);
            return exists ? Problems.Conflict("the invoice is already paid") : Problems.NotFound("no such invoice");
        }

        return TypedResults.Ok(ToResponse(await db.Invoices.AsNoTracking().Include(i => i.Lines).FirstAsync(i => i.Id == id, ct)));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Refund(Guid id, LicenseSales sales, CancellationToken ct) =>
        await sales.RefundAsync(id, refundAtProvider: true, ct) ? TypedResults.NoContent() : Problems.Conflict("no active license with this id to refund");

    internal static string Month(DateTime instant) => instant.ToString("yyyy-MM", CultureInfo.InvariantCulture);
}
