using Microsoft.ML.Tokenizers;

namespace UltraRepo.Domain.Tests.Metering;

/// <summary>
/// The oracle for expected counts: the Microsoft.ML.Tokenizers tokenizers used directly, never through the code under test.
/// (Texts given to it must not contain special-token text such as "&lt;|endoftext|&gt;", which it counts inconsistently.)
/// </summary>
internal static class Reference
{
    public static readonly Tokenizer O200k = TiktokenTokenizer.CreateForEncoding("o200k_base");
    public static readonly Tokenizer Cl100k = TiktokenTokenizer.CreateForEncoding("cl100k_base");

    /// <summary>o200k_base tokens of <paramref name="text"/>, the default encoding every accounting test meters with.</summary>
    public static long Tokens(string text) => O200k.CountTokens(text);
}
