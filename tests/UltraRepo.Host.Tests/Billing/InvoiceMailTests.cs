using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MimeKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using UltraRepo.Billing;

namespace UltraRepo.Host.Tests.Billing;

/// <summary>Invoice e-mail through a real SMTP server (Debian's python3-aiosmtpd, started by the test) and to the embedded outbox.</summary>
public sealed class InvoiceMailTests
{
    private static Invoice Sample() => new()
    {
        Number = "UR-000042",
        Period = "2026-11",
        Currency = "USD",
        Total = 12.34m,
        AmountDue = 12.34m,
        FinalizedAt = new DateTime(2026, 12, 1, 3, 0, 0, DateTimeKind.Utc),
        Lines =
        [
            new InvoiceLine { Position = 1, Kind = "usage", ServerName = "com.ultrarepo.alice/weather", Description = "Weather: 150,000 tokens", Tokens = 150_000,
                Tiers = """[{"fromToken":1,"toToken":100000,"tokens":100000,"pricePer1K":0.002,"amount":0.2}]""", ExactAmount = 12.3401m, Amount = 12.34m, RoundingAdjustment = -0.0001m },
        ],
    };

    [Fact]
    public async Task FinalizedInvoice_IsSentThroughARealSmtpServer()
    {
        var mailbox = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "mbox-" + Guid.NewGuid().ToString("N"));
        var port = FreePort();
        using var smtp = Process.Start(new ProcessStartInfo("/usr/bin/python3", $"-m aiosmtpd -n -l 127.0.0.1:{port} -c aiosmtpd.handlers.Mailbox {mailbox}")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        try
        {
            await WaitForPortAsync(port);
            var mailer = new InvoiceMailer(Options.Create(new MailOptions { SmtpHost = "127.0.0.1", SmtpPort = port, From = "Billing <billing@ultrarepo.test>" }));

            await mailer.SendAsync(Sample(), "bob@example.com", CancellationToken.None);

            var messages = Directory.GetFiles(Path.Combine(mailbox, "new"));
            var message = await MimeMessage.LoadAsync(Assert.Single(messages));
            Assert.Equal("bob@example.com", message.To.Mailboxes.Single().Address);
            Assert.Contains("UR-000042", message.Subject);
            Assert.Contains("12.34 USD due", message.Subject);
            Assert.Contains("Weather: 150,000 tokens", message.TextBody);
            Assert.Contains("<h1>Invoice UR-000042</h1>", message.HtmlBody);
        }
        finally
        {
            smtp.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task WithoutSmtp_TheInvoiceGoesToTheOutboxFolder()
    {
        var outbox = Path.Combine(Path.GetTempPath(), "ultrarepo-tests", "outbox-" + Guid.NewGuid().ToString("N"));
        var mailer = new InvoiceMailer(Options.Create(new MailOptions { OutboxDirectory = outbox }));

        await mailer.SendAsync(Sample(), "bob@example.com", CancellationToken.None);

        var message = await MimeMessage.LoadAsync(Path.Combine(outbox, "UR-000042.eml"));
        Assert.Equal("bob@example.com", message.To.Mailboxes.Single().Address);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException("aiosmtpd did not start (is python3-aiosmtpd installed? scripts/services.sh installs it)");
    }
}
