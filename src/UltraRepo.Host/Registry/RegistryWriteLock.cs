using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;

namespace UltraRepo.Registry;

/// <summary>
/// Serializes writes to one server's versions so "latest" is decided by one writer at a time:
/// a transaction-scoped advisory lock on PostgreSQL (works across nodes), an in-process lock on
/// embedded SQLite (one process owns the file).
/// </summary>
public sealed class RegistryWriteLock
{
    private readonly SemaphoreSlim _local = new(1, 1);

    public async Task<IAsyncDisposable> AcquireAsync(MarketplaceDb db, string serverName, CancellationToken ct)
    {
        if (db.Provider == DatabaseProvider.Postgres)
        {
            // Requires an open transaction: released at commit or rollback.
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtext({serverName}))", ct);
            return NoopRelease.Instance;
        }

        await _local.WaitAsync(ct);
        return new LocalRelease(_local);
    }

    private sealed class LocalRelease(SemaphoreSlim semaphore) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            semaphore.Release();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class NoopRelease : IAsyncDisposable
    {
        public static readonly NoopRelease Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
