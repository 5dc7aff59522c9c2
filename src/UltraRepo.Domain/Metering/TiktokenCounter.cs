using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace UltraRepo.Domain.Metering;

/// <summary>The end of the pre-tokenization piece starting at <paramref name="start"/>, or -1 to let the regex decide.</summary>
internal delegate int AsciiPieceEnd(ReadOnlySpan<char> text, int start);

/// <summary>
/// Counts tiktoken tokens the way an API encodes user-supplied text ("encode ordinary"): the text is split
/// with the encoding's own pre-tokenization pattern and each piece is byte-pair encoded by Microsoft.ML.Tokenizers.
/// </summary>
/// <remarks>
/// The piece loop is ours rather than the library's, for reasons measured on 2.0.1:
/// <list type="bullet">
/// <item>For o200k_base, ASCII text is split by <see cref="O200kAsciiPieces"/>, which gives the regex's pieces several
/// times faster; the regex remains the reference and handles everything else.</item>
/// <item>Special-token text such as <c>&lt;|endoftext|&gt;</c> counts 1 token in the library only while that entry
/// survives in its LRU cache, and ~7 once evicted. Splitting without special tokens makes it ordinary text, always.</item>
/// <item>The library serialises every piece lookup on one lock (in our measurement two threads counted slower than one).
/// Pieces seen before are answered here from a lock-free cache.</item>
/// <item>Byte-pair encoding is quadratic in the piece length (100 KB of "aaaa…" takes seconds). Pieces longer than
/// <see cref="MaxExactPieceLength"/> chars, which only repetitive or unspaced input produces, are counted in slices of that
/// length: linear time, at the cost of possibly a token per slice boundary.</item>
/// </list>
/// </remarks>
internal sealed partial class TiktokenCounter : ITokenCounter
{
    internal const int MaxExactPieceLength = 256;
    private const int MaxCachedPieceLength = 32;
    private const int MaxCachedPieces = 1 << 16;

    private readonly Tokenizer _tokenizer;
    private readonly Regex _pieces;
    private readonly AsciiPieceEnd? _asciiPieces;
    private readonly ConcurrentDictionary<string, int> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cachedPieces;

    /// <param name="pieces">The encoding's pre-tokenization pattern.</param>
    /// <param name="asciiPieces">Optional: the same pattern evaluated by hand for ASCII, much faster than the regex.</param>
    public TiktokenCounter(string name, Tokenizer tokenizer, Regex pieces, AsciiPieceEnd? asciiPieces = null)
    {
        Name = name;
        _tokenizer = tokenizer;
        _pieces = pieces;
        _asciiPieces = asciiPieces;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string Name { get; }

    public int CountTokens(ReadOnlySpan<char> text)
    {
        if (_asciiPieces is null)
        {
            int total = 0;
            foreach (ValueMatch piece in _pieces.EnumerateMatches(text))
            {
                total += CountPiece(text.Slice(piece.Index, piece.Length));
            }

            return total;
        }

        int count = 0;
        int start = 0;
        while (start < text.Length)
        {
            int end = _asciiPieces(text, start);
            if (end > start)
            {
                count += CountPiece(text[start..end]);
                start = end;
                continue;
            }

            // The regex takes over until a piece ends before ASCII again. A piece depends only on the text from its
            // start onwards (the pattern never looks behind), so resuming mid-text gives the same pieces.
            int next = text.Length;
            foreach (ValueMatch piece in _pieces.EnumerateMatches(text[start..]))
            {
                count += CountPiece(text.Slice(start + piece.Index, piece.Length));
                int pieceEnd = start + piece.Index + piece.Length;
                if (pieceEnd < text.Length && char.IsAscii(text[pieceEnd]))
                {
                    next = pieceEnd;
                    break;
                }
            }

            start = next;
        }

        return count;
    }

    private int CountPiece(ReadOnlySpan<char> piece)
    {
        if (piece.Length > MaxCachedPieceLength)
        {
            return piece.Length <= MaxExactPieceLength ? Encode(piece) : CountInSlices(piece);
        }

        if (_cacheBySpan.TryGetValue(piece, out int cached))
        {
            return cached;
        }

        int count = Encode(piece);
        if (Interlocked.Increment(ref _cachedPieces) > MaxCachedPieces)
        {
            // Crude bound on memory: start over. Common words come back within a few requests.
            _cache.Clear();
            Interlocked.Exchange(ref _cachedPieces, 0);
        }

        _cacheBySpan.TryAdd(piece, count);
        return count;
    }

    private int CountInSlices(ReadOnlySpan<char> piece)
    {
        int count = 0;
        while (!piece.IsEmpty)
        {
            int length = Math.Min(piece.Length, MaxExactPieceLength);
            if (length < piece.Length && char.IsHighSurrogate(piece[length - 1]))
            {
                length--; // keep surrogate pairs together
            }

            count += Encode(piece[..length]);
            piece = piece[length..];
        }

        return count;
    }

    private int Encode(ReadOnlySpan<char> piece) =>
        _tokenizer.CountTokens(piece, considerPreTokenization: false, considerNormalization: false);

    // The encodings' published pre-tokenization patterns (tiktoken), with possessive quantifiers written as atomic groups.
    [GeneratedRegex("""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""", RegexOptions.CultureInvariant)]
    internal static partial Regex O200kPieces();

    [GeneratedRegex("""'(?i:[sdmt]|ll|ve|re)|(?>[^\r\n\p{L}\p{N}]?)(?>\p{L}+)|(?>\p{N}{1,3})| ?(?>[^\s\p{L}\p{N}]+)(?>[\r\n]*)|(?>\s+)$|\s*[\r\n]|\s+(?!\S)|\s""", RegexOptions.CultureInvariant)]
    internal static partial Regex Cl100kPieces();
}
