using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Accounts;
using UltraRepo.Billing;
using UltraRepo.Data;
using UltraRepo.Domain.Pricing;
using UltraRepo.Metering;
using UltraRepo.Metering.Storage;
using UltraRepo.Registry;
using UltraRepo.Subscriptions;
using UltraRepo.UsageBench.Infrastructure;

namespace UltraRepo.UsageBench;

/// <summary>
/// <c>close</c>: month close at scale. 10,000 consumers subscribed to 5 listings each (500 listings from 100
/// publishers), each subscription with the month's price list fixed (the JSON <c>Entitlements.PeriodPlanAsync</c>
/// writes) and a few usage events written through <see cref="IUsageStore.WriteAsync"/> (so the rollups are real);
/// then <see cref="CloseBillingPeriod.CloseAsync"/> is timed, with the outbox mailer writing .eml files. Verifies
/// 10,000 invoices with 5 usage lines each and that the lines add up to the recorded costs.
/// </summary>
public static class CloseBench
{
    private sealed record Result(
        string Database, int Consumers, int PerConsumer, int Events, TimeSpan Setup, TimeSpan Draft, TimeSpan Close, TimeSpan UntilFirstMail, TimeSpan Delivery,
        long Invoices, long WithAllLines, long UsageLines, long BillablePairs, long Emailed, int Eml, List<RecordedCommand> Commands, decimal LinesExact, decimal RecordedCost, CpuUse Cpu,
        TimeSpan Reconcile, bool Reconciled);

    public static async Task RunAsync(string[] command)
    {
        var args = new BenchArgs(command[1..]);
        var providers = args.Providers();
        var consumers = args.Option("consumers", 10_000);
        var listings = args.Option("listings", 500);
        var publishers = args.Option("publishers", 100);
        var perConsumer = args.Option("listings-per-consumer", 5);
        var eventsPerPair = args.Option("events-per-pair", 3);
        args.EnsureAllUsed();

        Preamble.Print("Month close at scale: CloseBillingPeriod.CloseAsync (issue goal: ≤ 30 s)", command);
        var results = new List<Result>();
        var databases = new List<string>();
        foreach (var provider in providers)
        {
            results.Add(await RunOnceAsync(provider, consumers, listings, publishers, perConsumer, eventsPerPair, databases));
        }

        Console.WriteLine($"Data: {consumers:N0} consumers × {perConsumer} listings each ({listings} listings from {publishers} publishers), one subscription and one period price list " +
            $"(graduated 0.002 / 0.0015 / 0.001 per 1K) per pair, {eventsPerPair} usage events per pair written with `IUsageStore.WriteAsync` (marginal costs), " +
            "users, listings, registry entries, subscriptions and periods inserted with EF Core. Payments: manual (the embedded default); mail: outbox folder (.eml per invoice).");
        foreach (var d in databases.Distinct())
        {
            Console.WriteLine($"Database: {d}");
        }

        Console.WriteLine();
        var table = new MarkdownTable("Database", "Subscriptions", "Usage events", "Setup", "DraftAllAsync alone", "**CloseAsync**", "…until first e-mail", "…delivery (charge + e-mail + update)",
            "Invoices", "With 5 usage lines", "Usage lines = billable pairs", "E-mailed / .eml", "Σ lines exact = Σ recorded cost", "Goal ≤ 30 s", "Reconciliation report afterwards");
        foreach (var r in results)
        {
            // One usage line per subscription with billable usage (a pair whose few events all failed upstream has none).
            var ok = r.Invoices == r.Consumers && r.UsageLines == r.BillablePairs && r.Emailed == r.Consumers && r.Eml == r.Consumers;
            table.Add(r.Database, (long)r.Consumers * r.PerConsumer, r.Events, Rate.Seconds(r.Setup), Rate.Seconds(r.Draft), $"**{Rate.Seconds(r.Close)}**",
                Rate.Seconds(r.UntilFirstMail), Rate.Seconds(r.Delivery), $"{r.Invoices:N0}{(ok ? " ✓" : " ✗")}", r.WithAllLines, $"{r.UsageLines:N0} = {r.BillablePairs:N0}", $"{r.Emailed:N0} / {r.Eml:N0}",
                r.LinesExact == r.RecordedCost ? $"{r.LinesExact.ToString("0.############", CultureInfo.InvariantCulture)} ✓" : $"{r.LinesExact} ≠ {r.RecordedCost} ✗",
                r.Close <= TimeSpan.FromSeconds(30) ? "met" : "**missed**", $"{Rate.Seconds(r.Reconcile)}{(r.Reconciled ? ", all differences 0 ✓" : ", differences ✗")}");
        }

        table.Print();
        var commands = new MarkdownTable("Database", "Statement", "Commands", "Database time", "Slowest");
        foreach (var r in results)
        {
            foreach (var group in r.Commands.GroupBy(c => Kind(c.Sql)).OrderByDescending(g => g.Sum(c => c.Duration.Ticks)))
            {
                commands.Add(r.Database, group.Key, group.Count(), Ms.Of(group.Sum(c => c.Duration.TotalMilliseconds)), Ms.Of(group.Max(c => c.Duration.TotalMilliseconds)));
            }
        }

        commands.Print();
        var cpu = new MarkdownTable("Database", "Process CPU during close", "PostgreSQL CPU", "Other processes' share of the machine", "Load average");
        foreach (var r in results)
        {
            cpu.Add(r.Database, $"{r.Cpu.Process:0.0} s", r.Database == "SQLite" ? "(in process)" : $"{r.Cpu.Database:0.0} s", r.Cpu.OthersShare, r.Cpu.LoadAverage.ToString("0.0", CultureInfo.InvariantCulture));
        }

        cpu.Print();
        Console.WriteLine("`DraftAllAsync alone` is the drafting step run by itself just before the close (read-only). `…until first e-mail` is from the start of CloseAsync " +
            "to the first .eml (drafting + the transaction that writes invoices and billed usage); `…delivery` from the first to the last .eml " +
            "(per invoice: consumer e-mail lookup, manual charge, .eml write, emailed_at update). Database commands are EF Core's, recorded during CloseAsync from its DiagnosticListener.");
    }

    private static string Kind(string sql)
    {
        var text = sql.TrimStart();
        var first = text.Split((char[])[' ', '\n', '\r', '\t'], 2)[0].ToUpperInvariant();
        var table = text.Split('"').ElementAtOrDefault(1) ?? "";
        return first switch
        {
            "SELECT" => $"SELECT … {FromTable(text)}",
            "INSERT" => $"INSERT INTO {table}",
            "UPDATE" => $"UPDATE {table}",
            "DELETE" => $"DELETE FROM {table}",
            _ => first,
        };
    }

    private static string FromTable(string sql)
    {
        var at = sql.IndexOf("FROM \"", StringComparison.Ordinal);
        return at < 0 ? "" : "FROM " + sql[(at + 6)..].Split('"')[0];
    }

    private static async Task<Result> RunOnceAsync(BenchProvider provider, int consumerCount, int listingCount, int publisherCount, int perConsumer, int eventsPerPair, List<string> databases)
    {
        await using var database = await BenchDatabase.CreateAsync(provider);
        databases.Add(await database.DescribeAsync());
        await using var host = await BenchHost.CreateAsync(database, listen: false);
        var period = UsageEvents.LastFullMonth;
        var periodText = UsageEvents.Period(period);

        Preamble.Progress($"close {database.Name}: inserting {consumerCount:N0} consumers, {listingCount} listings, {consumerCount * perConsumer:N0} subscriptions and periods");
        var setup = Stopwatch.StartNew();
        var plan = PricingDocuments.Parse(new PricingDocument
        {
            Model = "usage",
            Currency = "USD",
            Usage = new UsageDocument
            {
                ChargeModel = "graduated",
                Tiers = [new() { UpTo = 100_000, PricePer1k = "0.002" }, new() { UpTo = 1_000_000, PricePer1k = "0.0015" }, new() { UpTo = null, PricePer1k = "0.001" }],
            },
        }).Plan!;
        var pricingJson = JsonSerializer.Serialize(PricingDocuments.ToDocument(plan), PricingDocuments.Json);

        var publishers = Enumerable.Range(0, publisherCount).Select(p => NewUser($"closepub{p}")).ToList();
        var consumers = Enumerable.Range(0, consumerCount).Select(c => NewUser($"closecon{c}")).ToList();
        var listings = Enumerable.Range(0, listingCount).Select(l => $"com.ultrarepo.closepub{l % publisherCount}/tool-{l}").ToArray();
        var subscriptions = new List<Subscription>();
        var pairs = new List<(int Consumer, int Listing, Guid Subscription)>();
        for (var c = 0; c < consumerCount; c++)
        {
            for (var k = 0; k < perConsumer; k++)
            {
                // Distinct listings per consumer, spread over all of them.
                var l = (c * 7 + k * (listingCount / perConsumer + 1)) % listingCount;
                var subscription = new Subscription { ConsumerId = consumers[c].Id, ServerName = listings[l], CreatedAt = period.AddDays(-3) };
                subscriptions.Add(subscription);
                pairs.Add((c, l, subscription.Id));
            }
        }

        await SaveInChunksAsync(host, publishers.Concat(consumers), (db, chunk) => db.Users.AddRange(chunk));
        await SaveInChunksAsync(host, Enumerable.Range(0, listingCount), (db, chunk) =>
        {
            foreach (var l in chunk)
            {
                db.Listings.Add(new Listing { ServerName = listings[l], OwnerId = publishers[l % publisherCount].Id, CreatedAt = period.AddDays(-30), UpdatedAt = period.AddDays(-30) });
                db.RegistryEntries.Add(new RegistryEntry
                {
                    ServerName = listings[l],
                    Version = "1.0.0",
                    Namespace = listings[l].Split('/')[0],
                    Title = $"Tool {l}",
                    Description = "Benchmark listing",
                    ServerJson = $$"""{"name":"{{listings[l]}}","description":"Benchmark listing","version":"1.0.0"}""",
                    PublishedAt = period.AddDays(-30),
                    UpdatedAt = period.AddDays(-30),
                    StatusChangedAt = period.AddDays(-30),
                    IsLatest = true,
                    PublisherId = publishers[l % publisherCount].Id,
                    Origin = EntryOrigin.Published,
                    HasPackage = true,
                    RegistryTypes = " npm ",
                });
            }
        });
        await SaveInChunksAsync(host, subscriptions, (db, chunk) => db.Subscriptions.AddRange(chunk));
        await SaveInChunksAsync(host, subscriptions, (db, chunk) => db.SubscriptionPeriods.AddRange(chunk.Select(s =>
            new SubscriptionPeriod { SubscriptionId = s.Id, Period = periodText, Pricing = pricingJson, CreatedAt = period })));

        Preamble.Progress($"close {database.Name}: writing {pairs.Count * eventsPerPair:N0} usage events through IUsageStore.WriteAsync");
        var store = host.Service<IUsageStore>();
        var random = new Random(7);
        var events = new List<UsageEvent>(store.MaxBatch);
        var sequence = 0L;
        var written = 0;
        foreach (var (c, l, subscription) in pairs)
        {
            // The gateway's marginal cost: the month's amount after the event minus before it.
            long monthToDate = 0;
            for (var e = 0; e < eventsPerPair; e++)
            {
                var timestamp = period + TimeSpan.FromDays(28) * ((e + random.NextDouble()) / eventsPerPair);
                events.Add(UsageEvents.Create(random, timestamp, consumers[c].Id, listings[l], null, subscription, ++sequence, tokens =>
                {
                    var cost = UsageRating.Marginal(plan.Usage!, monthToDate, tokens);
                    monthToDate += tokens;
                    return cost;
                }));
                if (events.Count == store.MaxBatch)
                {
                    written += await store.WriteAsync(events, CancellationToken.None);
                    events.Clear();
                }
            }
        }

        written += await store.WriteAsync(events, CancellationToken.None);
        setup.Stop();

        // Drafting alone (read-only), then the real close in a fresh scope.
        TimeSpan draft;
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var started = Stopwatch.GetTimestamp();
            await scope.ServiceProvider.GetRequiredService<CloseBillingPeriod>().DraftAllAsync(periodText, CancellationToken.None);
            draft = Stopwatch.GetElapsedTime(started);
        }

        Preamble.Progress($"close {database.Name}: closing {periodText}");
        using var recorder = new SqlRecorder();
        var account = await CpuAccount.StartAsync(database);
        TimeSpan close;
        var closeStart = DateTime.UtcNow;
        await using (var scope = host.Services.CreateAsyncScope())
        {
            recorder.Start();
            var started = Stopwatch.GetTimestamp();
            var summary = await scope.ServiceProvider.GetRequiredService<CloseBillingPeriod>().CloseAsync(periodText, CancellationToken.None);
            close = Stopwatch.GetElapsedTime(started);
            Preamble.Progress($"close {database.Name}: {summary.Invoices:N0} invoices in {close.TotalSeconds:0.0} s");
        }

        var commands = recorder.Stop();
        TimeSpan reconcile;
        bool reconciled;
        await using (var scope = host.Services.CreateAsyncScope())
        {
            // The operator's reconciliation of the closed month (events → lines → ledger), over every invoice line.
            var started = Stopwatch.GetTimestamp();
            var reports = await scope.ServiceProvider.GetRequiredService<Reconciliation>().ReportAsync(periodText, CancellationToken.None);
            reconcile = Stopwatch.GetElapsedTime(started);
            reconciled = reports.Count > 0 && reports.All(r => r.Differences.AllZero);
        }

        var cpu = await account.StopAsync();
        var mails = Directory.Exists(host.OutboxDirectory) ? new DirectoryInfo(host.OutboxDirectory).GetFiles("*.eml") : [];
        var firstMail = mails.Length == 0 ? closeStart : mails.Min(f => f.LastWriteTimeUtc);
        var lastMail = mails.Length == 0 ? closeStart : mails.Max(f => f.LastWriteTimeUtc);

        await using var verify = host.Services.CreateAsyncScope();
        var db = verify.ServiceProvider.GetRequiredService<MarketplaceDb>();
        var invoices = await db.Invoices.LongCountAsync(i => i.Period == periodText);
        var usageLines = await db.InvoiceLines.Where(l => l.Kind == "usage").LongCountAsync();
        var billablePairs = await db.UsageDaily.Where(r => r.BillableTokens > 0).Select(r => new { r.ConsumerId, r.ServerName }).Distinct().LongCountAsync();
        var withAll = await db.InvoiceLines.Where(l => l.Kind == "usage").GroupBy(l => l.InvoiceId).Where(g => g.Count() == perConsumer).LongCountAsync();
        var emailed = await db.Invoices.LongCountAsync(i => i.Period == periodText && i.EmailedAt != null);
        var linesExact = (await db.InvoiceLines.Where(l => l.Kind == "usage").Select(l => l.ExactAmount).ToListAsync()).Sum();
        var recorded = (await db.UsageDaily.Select(r => r.Cost).ToListAsync()).Sum();
        if (written != pairs.Count * eventsPerPair)
        {
            throw new InvalidOperationException($"the store took {written:N0} of {pairs.Count * eventsPerPair:N0} events");
        }

        return new Result(database.Name, consumerCount, perConsumer, pairs.Count * eventsPerPair, setup.Elapsed, draft, close, firstMail - closeStart, lastMail - firstMail,
            invoices, withAll, usageLines, billablePairs, emailed, mails.Length, commands, linesExact, recorded, cpu, reconcile, reconciled);
    }

    private static User NewUser(string handle) =>
        new() { Email = $"{handle}@bench.example.com", Handle = handle, PasswordHash = "not-a-login", CreatedAt = DateTime.UtcNow.AddDays(-60) };

    private static async Task SaveInChunksAsync<T>(BenchHost host, IEnumerable<T> items, Action<MarketplaceDb, T[]> add)
    {
        foreach (var chunk in items.Chunk(2_000))
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<MarketplaceDb>();
            add(db, chunk);
            await db.SaveChangesAsync();
        }
    }
}
