using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using UltraRepo.Accounts;
using UltraRepo.Billing;
using UltraRepo.Data;
using UltraRepo.Host.Tests.Infrastructure;
using UltraRepo.Metering.Storage;
using static UltraRepo.Host.Tests.Metering.MeteringTestData;

namespace UltraRepo.Host.Tests.Billing;

/// <summary>Closing a month charges and e-mails its invoices several at a time, each exactly once.</summary>
public sealed class CloseDeliveryTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Close_DeliversEveryInvoiceOnce_SeveralAtATime_AConsumersInvoicesInTurn_ARefusedMailKeepsItsCharge(Provider provider)
    {
        // The mail server refuses one consumer's address: that invoice stays charged but not e-mailed.
        var mailer = new RecordingMailer { Refused = "close7@example.com" };
        await using var app = new MarketplaceApp(provider, s => s["Billing:ScheduledClose"] = "false",
            services => services.Replace(ServiceDescriptor.Singleton<IInvoiceMailer>(mailer)));
        var consumers = Enumerable.Range(0, 12)
            .Select(i => new User { Email = $"close{i}@example.com", Handle = $"close{i}", PasswordHash = "not-a-login", CreatedAt = app.Clock.GetUtcNow().UtcDateTime })
            .ToList();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            db.Users.AddRange(consumers);
            await db.SaveChangesAsync();
        }

        // One November event per consumer in dollars; the first consumer also used a listing priced in euros, so it has
        // two invoices, which must not be delivered at the same time (a payment provider's customer is created once).
        var november = new DateTime(2026, 11, 5, 9, 0, 0, DateTimeKind.Utc);
        var events = consumers.Select((c, i) => Event(i, at: november.AddHours(i), consumer: c.Id, cost: 0.5m + i)).ToList();
        events.Add(Event(100, at: november, consumer: consumers[0].Id, server: "com.ultrarepo.carol/maps", currency: "EUR", cost: 0.25m));
        await app.Service<IUsageStore>().WriteAsync(events, CancellationToken.None);

        app.Clock.SetUtcNow(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var summary = await scope.ServiceProvider.GetRequiredService<CloseBillingPeriod>().CloseAsync("2026-11", CancellationToken.None);
            Assert.Equal(13, summary.Invoices);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            var invoices = await db.Invoices.AsNoTracking().ToListAsync();
            Assert.Equal(13, invoices.Count);
            var emails = consumers.ToDictionary(c => c.Id, c => c.Email);
            var refused = invoices.Single(i => emails[i.ConsumerId] == mailer.Refused);
            Assert.Null(refused.EmailedAt);
            Assert.All(invoices.Where(i => i != refused), i => Assert.NotNull(i.EmailedAt));
            Assert.All(invoices, i => Assert.Equal("manual", i.PaymentProvider));
            Assert.Equal(invoices.Where(i => i != refused).Select(i => i.Number).Order(), mailer.Sent.Order());
            Assert.All(invoices.Where(i => i != refused), i => Assert.Equal(emails[i.ConsumerId], mailer.Recipients[i.Number]));
        }

        Assert.InRange(mailer.MostInFlight, 2, 4);
        Assert.False(mailer.AConsumerOverlapped);
    }

    /// <summary>Records each message and how many were being sent at once (each send takes a little while).</summary>
    private sealed class RecordingMailer : IInvoiceMailer
    {
        private readonly ConcurrentDictionary<string, bool> _sendingTo = new();
        private int _inFlight;

        public string? Refused { get; init; }
        public ConcurrentBag<string> Sent { get; } = [];
        public ConcurrentDictionary<string, string> Recipients { get; } = new();
        public int MostInFlight;
        public bool AConsumerOverlapped { get; private set; }

        public async Task SendAsync(Invoice invoice, string email, CancellationToken ct)
        {
            var now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref MostInFlight, now);
            AConsumerOverlapped |= !_sendingTo.TryAdd(email, true);
            await Task.Delay(40, ct);
            _sendingTo.TryRemove(email, out _);
            Interlocked.Decrement(ref _inFlight);
            if (email == Refused)
            {
                throw new InvalidOperationException($"550 mailbox unavailable: {email}");
            }

            Sent.Add(invoice.Number);
            Recipients[invoice.Number] = email;
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
            {
            }
        }
    }
}
