using System.Diagnostics.CodeAnalysis;
using Microsoft.ML.Tokenizers;

namespace UltraRepo.Domain.Metering;

/// <summary>
/// The tokenizers the gateway meters with. Each is built once, from the vocabulary embedded in the
/// Microsoft.ML.Tokenizers data packages (no download), and shared by all threads.
/// </summary>
public static class Tokenizers
{
    public const string O200kBase = "o200k_base";
    public const string Cl100kBase = "cl100k_base";
    public const string Default = O200kBase;

    public static IReadOnlyList<string> Supported { get; } = [O200kBase, Cl100kBase];

    // Building o200k_base takes about a second and 42 MB (cl100k_base a third of that), so it happens on first use only.
    private static readonly Lazy<ITokenCounter> O200k = new(
        () => new TiktokenCounter(O200kBase, TiktokenTokenizer.CreateForEncoding(O200kBase), TiktokenCounter.O200kPieces(), O200kAsciiPieces.PieceEnd),
        LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<ITokenCounter> Cl100k = new(
        () => new TiktokenCounter(Cl100kBase, TiktokenTokenizer.CreateForEncoding(Cl100kBase), TiktokenCounter.Cl100kPieces()),
        LazyThreadSafetyMode.ExecutionAndPublication);

    public static bool IsSupported([NotNullWhen(true)] string? name) => name is O200kBase or Cl100kBase;

    /// <exception cref="ArgumentException">The name is not one of <see cref="Supported"/>.</exception>
    public static ITokenCounter Get(string name) => name switch
    {
        O200kBase => O200k.Value,
        Cl100kBase => Cl100k.Value,
        null => throw new ArgumentNullException(nameof(name)),
        _ => throw new ArgumentException($"Unknown tokenizer '{name}'; supported: {string.Join(", ", Supported)}.", nameof(name)),
    };
}
