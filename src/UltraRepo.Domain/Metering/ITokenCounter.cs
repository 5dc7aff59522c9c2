namespace UltraRepo.Domain.Metering;

/// <summary>Counts the tokens a model would see for a text. Implementations are thread-safe.</summary>
public interface ITokenCounter
{
    /// <summary>The encoding name, e.g. <c>o200k_base</c>.</summary>
    string Name { get; }

    int CountTokens(ReadOnlySpan<char> text);
}
