using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using UltraRepo.Domain.Common;

namespace UltraRepo.Billing;

public sealed class MailOptions
{
    /// <summary>SMTP server; when unset, invoices are written to <see cref="OutboxDirectory"/> as .eml files (embedded mode).</summary>
    public string? SmtpHost { get; set; }
    public int SmtpPort { get; set; } = 587;
    public bool UseTls { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    public string From { get; set; } = "UltraRepo Billing <billing@ultrarepo.local>";
    public string OutboxDirectory { get; set; } = "./data/outbox";
}

/// <summary>The printable invoice (HTML) and its plain-text twin for e-mail.</summary>
public static class InvoiceDocuments
{
    public static string Html(Invoice invoice, string consumer)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $$$"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invoice {{{E(invoice.Number)}}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#111}table{width:100%;border-collapse:collapse}
            td,th{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}.n{text-align:right;font-variant-numeric:tabular-nums}
            .muted{color:#666;font-size:.85rem}@media print{body{margin:0}}</style></head><body>
            <h1>Invoice {{{E(invoice.Number)}}}</h1>
            <p>UltraRepo marketplace · Billed to {{{E(consumer)}}} · Period {{{E(invoice.Period)}}} · Finalized {{{invoice.FinalizedAt:yyyy-MM-dd}}} · Status <strong>{{{E(invoice.Status)}}}</strong></p>
            <table><thead><tr><th>Item</th><th class="n">Tokens</th><th class="n">Amount ({{{E(invoice.Currency)}}})</th></tr></thead><tbody>
            """);
        foreach (var line in invoice.Lines.OrderBy(l => l.Position))
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(line.Description)}{Tiers(line, invoice.Currency)}</td><td class=\"n\">{(line.Tokens > 0 ? line.Tokens.ToString("N0", CultureInfo.InvariantCulture) : "")}</td><td class=\"n\">{Money.Format(line.Amount, invoice.Currency)}</td></tr>");
        }

        var pay = invoice.PaymentUrl is null ? "" : $"<p><a href=\"{E(invoice.PaymentUrl)}\">Pay this invoice online</a></p>";
        html.Append(CultureInfo.InvariantCulture, $"""
            </tbody><tfoot>
            <tr><th colspan="2">Total</th><th class="n">{Money.Format(invoice.Total, invoice.Currency)}</th></tr>
            <tr><td colspan="2">Paid at checkout (licenses)</td><td class="n">{Money.Format(invoice.Prepaid, invoice.Currency)}</td></tr>
            <tr><th colspan="2">Amount due</th><th class="n">{Money.Format(invoice.AmountDue, invoice.Currency)}</th></tr>
            </tfoot></table>
            {pay}
            <p class="muted">Line amounts are the exact sums of your metered usage rounded half-to-even to the cent, once per line.</p>
            </body></html>
            """);
        return html.ToString();
    }

    public static string Text(Invoice invoice)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Invoice {invoice.Number} for {invoice.Period}");
        foreach (var line in invoice.Lines.OrderBy(l => l.Position))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {line.Description,-70} {Money.Format(line.Amount, invoice.Currency),12} {invoice.Currency}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"  Total {Money.Format(invoice.Total, invoice.Currency)} {invoice.Currency}; amount due {Money.Format(invoice.AmountDue, invoice.Currency)} {invoice.Currency}");
        if (invoice.PaymentUrl is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  Pay online: {invoice.PaymentUrl}");
        }
        return text.ToString();
    }

    private static string Tiers(InvoiceLine line, string currency)
    {
        var tiers = JsonSerializer.Deserialize<List<JsonElement>>(line.Tiers) ?? [];
        if (tiers.Count == 0)
        {
            return "";
        }

        var parts = tiers.Select(t => string.Create(CultureInfo.InvariantCulture,
            $"{t.GetProperty("tokens").GetInt64():N0} × {t.GetProperty("pricePer1K").GetDecimal():0.##########}/1K"));
        return $"<div class=\"muted\">{E(string.Join(" + ", parts))} {E(currency)}</div>";
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}

/// <summary>
/// E-mails finalized invoices with MailKit over SMTP, or — with no SMTP server configured (the embedded
/// default) — writes each message to the outbox folder as an .eml file.
/// </summary>
public sealed class InvoiceMailer(IOptions<MailOptions> options) : IInvoiceMailer
{
    public async Task SendAsync(Invoice invoice, string email, CancellationToken ct)
    {
        var o = options.Value;
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(o.From));
        message.To.Add(MailboxAddress.Parse(email));
        message.Subject = $"Your UltraRepo invoice {invoice.Number} for {invoice.Period}: {Money.Format(invoice.AmountDue, invoice.Currency)} {invoice.Currency} due";
        message.Body = new BodyBuilder { TextBody = InvoiceDocuments.Text(invoice), HtmlBody = InvoiceDocuments.Html(invoice, email) }.ToMessageBody();

        if (string.IsNullOrEmpty(o.SmtpHost))
        {
            Directory.CreateDirectory(o.OutboxDirectory);
            await message.WriteToAsync(Path.Combine(o.OutboxDirectory, $"{invoice.Number}.eml"), ct);
            return;
        }

        using var smtp = new SmtpClient();
        await smtp.ConnectAsync(o.SmtpHost, o.SmtpPort, o.UseTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None, ct);
        if (!string.IsNullOrEmpty(o.Username))
        {
            await smtp.AuthenticateAsync(o.Username, o.Password ?? "", ct);
        }

        await smtp.SendAsync(message, ct);
        await smtp.DisconnectAsync(true, ct);
    }
}
