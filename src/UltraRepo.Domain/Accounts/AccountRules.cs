using System.Text.RegularExpressions;
using UltraRepo.Domain.Common;

namespace UltraRepo.Domain.Accounts;

/// <summary>Rules for new accounts: email shape, handle shape (it becomes a namespace) and password strength.</summary>
public static partial class AccountRules
{
    public const int MinPasswordLength = 10;
    public const int MaxPasswordLength = 256;

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?\\z")]
    private static partial Regex HandlePattern();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+\z")]
    private static partial Regex EmailPattern();

    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();

    public static string NormalizeHandle(string handle) => handle.Trim().ToLowerInvariant();

    public static List<FieldError> ValidateRegistration(string? email, string? password, string? handle)
    {
        var errors = new List<FieldError>();
        if (string.IsNullOrWhiteSpace(email))
        {
            errors.Add(new("body.email", "email is required"));
        }
        else if (email.Length > 254 || !EmailPattern().IsMatch(email.Trim()))
        {
            errors.Add(new("body.email", "email must be a valid address like name@example.com", email));
        }

        if (string.IsNullOrWhiteSpace(handle))
        {
            errors.Add(new("body.handle", "handle is required"));
        }
        else if (!HandlePattern().IsMatch(NormalizeHandle(handle)))
        {
            errors.Add(new("body.handle", "handle must be 1-39 characters of a-z, 0-9 and '-', not starting or ending with '-'", handle));
        }

        var passwordError = CheckPassword(password, email, handle);
        if (passwordError is not null)
        {
            errors.Add(new("body.password", passwordError));
        }

        return errors;
    }

    /// <summary>Returns the rule the password breaks, or null when it is acceptable.</summary>
    public static string? CheckPassword(string? password, string? email = null, string? handle = null)
    {
        if (string.IsNullOrEmpty(password))
        {
            return "password is required";
        }

        if (password.Length < MinPasswordLength)
        {
            return $"password must be at least {MinPasswordLength} characters long";
        }

        if (password.Length > MaxPasswordLength)
        {
            return $"password must be at most {MaxPasswordLength} characters long";
        }

        if (password.Distinct().Count() < 5)
        {
            return "password must contain at least 5 different characters";
        }

        if (!password.Any(char.IsLetter) || password.All(char.IsLetter))
        {
            return "password must mix letters with digits or symbols";
        }

        var lowered = password.ToLowerInvariant();
        if (!string.IsNullOrWhiteSpace(handle) && lowered.Contains(NormalizeHandle(handle), StringComparison.Ordinal) && handle.Trim().Length >= 3)
        {
            return "password must not contain the handle";
        }

        var localPart = email?.Split('@')[0].Trim().ToLowerInvariant();
        if (!string.IsNullOrEmpty(localPart) && localPart.Length >= 3 && lowered.Contains(localPart, StringComparison.Ordinal))
        {
            return "password must not contain the email address";
        }

        return null;
    }
}
