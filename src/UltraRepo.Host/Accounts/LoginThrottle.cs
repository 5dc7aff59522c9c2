using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace UltraRepo.Accounts;

/// <summary>Counts failed logins per account so guessing one account's password from many addresses is slow too.</summary>
public sealed class LoginThrottle(IMemoryCache cache, IOptions<AccountsOptions> options)
{
    public bool IsLocked(string email) =>
        cache.TryGetValue(Key(email), out Counter? counter) && counter!.Failures >= options.Value.FailedLoginsPerAccount;

    public void RecordFailure(string email)
    {
        var counter = cache.GetOrCreate(Key(email), e =>
        {
            e.AbsoluteExpirationRelativeToNow = options.Value.FailedLoginWindow;
            return new Counter();
        })!;
        Interlocked.Increment(ref counter.Failures);
    }

    public void Reset(string email) => cache.Remove(Key(email));

    private static string Key(string email) => "login-failures:" + email;

    private sealed class Counter
    {
        public int Failures;
    }
}
