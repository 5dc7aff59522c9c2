namespace UltraRepo.Accounts;

public sealed class AccountsOptions
{
    /// <summary>Login requests per minute from one client address.</summary>
    public int LoginAttemptsPerMinute { get; set; } = 20;

    /// <summary>Failed logins for one email before it is locked for <see cref="FailedLoginWindow"/>.</summary>
    public int FailedLoginsPerAccount { get; set; } = 5;

    public TimeSpan FailedLoginWindow { get; set; } = TimeSpan.FromMinutes(15);
}
