using System.Security.Cryptography;
using System.Text;

namespace UltraRepo.Gateway;

/// <summary>
/// Encrypts secrets at rest (publishers' upstream credentials) with AES-256-GCM under a master key
/// that never lives in the database: <c>ULTRAREPO_MASTER_KEY</c> (32 bytes, base64), or in the
/// embedded mode a key file created on first use (<c>./data/master.key</c>, owner-only).
/// Layout: 12-byte nonce | 16-byte tag | ciphertext.
/// </summary>
public sealed class SecretBox
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    public SecretBox(byte[] key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("the master key must be 32 bytes", nameof(key));
        }

        _key = key;
    }

    public static SecretBox FromConfiguration(IConfiguration configuration)
    {
        var configured = configuration["ULTRAREPO_MASTER_KEY"];
        if (!string.IsNullOrEmpty(configured))
        {
            return new SecretBox(Convert.FromBase64String(configured));
        }

        var file = configuration["Gateway:MasterKeyFile"] ?? "./data/master.key";
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
            var key = RandomNumberGenerator.GetBytes(32);
            File.WriteAllText(file, Convert.ToBase64String(key));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        return new SecretBox(Convert.FromBase64String(File.ReadAllText(file).Trim()));
    }

    public byte[] Seal(string plaintext)
    {
        var data = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceSize + TagSize + data.Length];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, data, output.AsSpan(NonceSize + TagSize), output.AsSpan(NonceSize, TagSize));
        return output;
    }

    public string Open(byte[] sealedData)
    {
        var plaintext = new byte[sealedData.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(sealedData.AsSpan(0, NonceSize), sealedData.AsSpan(NonceSize + TagSize), sealedData.AsSpan(NonceSize, TagSize), plaintext);
        return Encoding.UTF8.GetString(plaintext);
    }

    /// <summary>A keyed MAC for values the gateway hands to clients and must get back unchanged.</summary>
    public string Sign(string value) =>
        Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value)))[..22].Replace('+', '-').Replace('/', '_');
}
