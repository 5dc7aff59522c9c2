using System.Security.Cryptography;
using System.Text;

namespace UltraRepo.Accounts;

/// <summary>
/// Key material: 240 random bits in base62 after the <c>urk_</c> prefix. The store keeps only a
/// SHA-256 digest; a slow password hash is unnecessary for secrets with this much entropy and
/// would cost milliseconds on every gateway request.
/// </summary>
public static class ApiKeySecrets
{
    public const string KeyPrefix = "urk_";
    private const int DisplayPrefixLength = 12;
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string NewKey()
    {
        Span<char> chars = stackalloc char[40];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return KeyPrefix + new string(chars);
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string DisplayPrefix(string key) => key[..Math.Min(DisplayPrefixLength, key.Length)];

    public static bool LooksLikeKey(string? token) =>
        token is { Length: > 20 and < 200 } && token.StartsWith(KeyPrefix, StringComparison.Ordinal);
}
