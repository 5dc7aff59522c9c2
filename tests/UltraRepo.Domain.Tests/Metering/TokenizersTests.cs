using System.Text.RegularExpressions;
using CsCheck;
using Microsoft.ML.Tokenizers;
using UltraRepo.Domain.Metering;

namespace UltraRepo.Domain.Tests.Metering;

public class TokenizersTests
{
    private static readonly string[] Corpus =
    [
        "hello world",
        "The gateway proxies MCP JSON-RPC traffic and counts the tokens of every payload. It's what we've built; they'll see.",
        "  indented\n\tcode();\r\n\r\n    return x;   \n\n\n",
        """{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"72°F, sunny"}]}}""",
        "public static async Task<int> MainAsync(string[] args) { var x = args.Length * 3.14159; return (int)x; }",
        "Zürich, São Paulo, Kraków, İstanbul — naïve café déjà vu; ÀÉÎÕÜ ÆØÅ ß",
        "東京は日本の首都です。人口は約1400万人。中文文本没有空格，但有标点。한국어 문장도 있습니다.",
        "ภาษาไทยไม่มีช่องว่างระหว่างคำ Ελληνικά Русский текст עברית العربية हिन्दी",
        "emoji 😀👍🏽👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 and math ∑∫√∞ ≤ ≥",
        "numbers 1234567890 3.14159e-10 0xDEADBEEF 1,000,000 2025-11-25T10:00:00Z",
        "https://example.com/path/to/resource?query=value&other=1#fragment /usr/local/bin/dotnet C:\\Users\\me",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw==",
        "SHOUTING WORDS AND CamelCaseIdentifiers with snake_case_names and kebab-case-names I'M DONE'S",
        "combining marks: e\u0301 a\u0308 n\u0303, zero width\u200bspace, nbsp\u00a0here, tabs\t\tend",
        new string('-', 80) + "\n" + new string(' ', 100) + "x\n" + new string('=', 200),
    ];

    [Fact]
    public void Get_ReturnsOneSharedCounterPerEncoding()
    {
        Assert.Same(Tokenizers.Get(Tokenizers.O200kBase), Tokenizers.Get("o200k_base"));
        Assert.Same(Tokenizers.Get(Tokenizers.Cl100kBase), Tokenizers.Get("cl100k_base"));
        Assert.Equal("o200k_base", Tokenizers.Get(Tokenizers.O200kBase).Name);
        Assert.Equal("cl100k_base", Tokenizers.Get(Tokenizers.Cl100kBase).Name);
        Assert.Equal(Tokenizers.O200kBase, Tokenizers.Default);
    }

    [Fact]
    public void Get_UnknownName_ThrowsArgumentException()
    {
        var error = Assert.Throws<ArgumentException>(() => Tokenizers.Get("p50k_base"));
        Assert.Contains("o200k_base", error.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => Tokenizers.Get(null!));
        Assert.Throws<ArgumentException>(() => Tokenizers.Get("O200K_BASE"));
    }

    [Fact]
    public void IsSupported_IsTrueExactlyForTheSupportedNames()
    {
        Assert.Equal(["o200k_base", "cl100k_base"], Tokenizers.Supported);
        Assert.All(Tokenizers.Supported, name => Assert.True(Tokenizers.IsSupported(name)));
        Assert.False(Tokenizers.IsSupported(null));
        Assert.False(Tokenizers.IsSupported(""));
        Assert.False(Tokenizers.IsSupported("gpt-4o"));
    }

    [Fact]
    public void CountTokens_PinnedValues_DifferBetweenEncodings()
    {
        // "hello world" is the well-known [15339, 1917] in cl100k_base and [24912, 2375] in o200k_base; o200k_base's
        // larger vocabulary reads the Japanese greeting as 2 tokens where cl100k_base needs 4 (ids checked with EncodeToIds).
        Assert.Equal(2, Tokenizers.Get(Tokenizers.O200kBase).CountTokens("hello world"));
        Assert.Equal(2, Tokenizers.Get(Tokenizers.Cl100kBase).CountTokens("hello world"));
        Assert.Equal(2, Tokenizers.Get(Tokenizers.O200kBase).CountTokens("こんにちは世界"));
        Assert.Equal(4, Tokenizers.Get(Tokenizers.Cl100kBase).CountTokens("こんにちは世界"));
    }

    [Fact]
    public void CountTokens_EmptyText_IsZero()
    {
        Assert.Equal(0, Tokenizers.Get(Tokenizers.O200kBase).CountTokens(""));
        Assert.Equal(0, Tokenizers.Get(Tokenizers.Cl100kBase).CountTokens(ReadOnlySpan<char>.Empty));
    }

    [Theory]
    [InlineData("o200k_base")]
    [InlineData("cl100k_base")]
    public void CountTokens_MatchesTheLibraryTokenizer_OnVariedText(string encoding)
    {
        var counter = Tokenizers.Get(encoding);
        var reference = ReferenceFor(encoding);
        foreach (string text in Corpus)
        {
            Assert.Equal(reference.CountTokens(text), counter.CountTokens(text));
        }
    }

    // Alphabets that exercise every branch of the pre-tokenization patterns: mixed Unicode, and ASCII only (the fast path).
    private const string MixedAlphabet = "aZé中ก 9'sSt\n\r\t.,-_/{}\"\\😀\u0301\u00a0";
    private const string AsciiAlphabet = "aAzZsStTrReEvVmMlLdD09' \t\v\f\r\n/.,!-_{}\"\\\u0001";

    [Theory]
    [InlineData("o200k_base", MixedAlphabet)]
    [InlineData("o200k_base", AsciiAlphabet)]
    [InlineData("cl100k_base", MixedAlphabet)]
    [InlineData("cl100k_base", AsciiAlphabet)]
    public void CountTokens_MatchesTheLibraryTokenizer_OnRandomText(string encoding, string alphabet)
    {
        var counter = Tokenizers.Get(encoding);
        var reference = ReferenceFor(encoding);
        var text = Gen.Char[alphabet].Array[0, 120].Select(chars => new string(chars));
        text.Sample(t => Assert.Equal(reference.CountTokens(t), counter.CountTokens(t)), iter: 2000);
    }

    [Fact]
    public void CountTokens_SpecialTokenText_CountsAsOrdinaryTextEveryTime()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        // An API encodes user text without special tokens, so "<|endoftext|>" is the pieces "<|", "endoftext", "|>".
        long ordinary = Reference.O200k.CountTokens("<|") + Reference.O200k.CountTokens("endoftext") + Reference.O200k.CountTokens("|>");
        Assert.True(ordinary > 1);
        Assert.Equal(ordinary, counter.CountTokens("<|endoftext|>"));

        // The library's own answer (1) depends on its LRU cache; churn it and ask again.
        for (int i = 0; i < 20_000; i++)
        {
            counter.CountTokens($"w{i:x6}q");
        }

        Assert.Equal(ordinary, counter.CountTokens("<|endoftext|>"));
    }

    [Fact]
    public void CountTokens_PiecesUpTo256Chars_AreExact()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        foreach (string piece in new[] { new string('a', 256), new string(' ', 255) + "\n", string.Concat(Enumerable.Repeat("中文", 128)) })
        {
            Assert.Equal(Reference.O200k.CountTokens(piece), counter.CountTokens(piece));
        }
    }

    [Fact]
    public void CountTokens_PiecesLongerThan256Chars_AreCountedIn256CharSlices()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        string cjk = string.Concat(Enumerable.Repeat("的一是不了人我在有他这为之大来以个中上们", 40)); // 800 letters, one piece
        Assert.Single(TokenizerPieces(cjk));
        long sliced = 0;
        for (int start = 0; start < cjk.Length; start += 256)
        {
            sliced += Reference.O200k.CountTokens(cjk.AsSpan(start, Math.Min(256, cjk.Length - start)));
        }

        Assert.Equal(sliced, counter.CountTokens(cjk));
    }

    [Fact]
    public void CountTokens_SlicesNeverSplitASurrogatePair()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        // .NET regex sees surrogates as symbols, so this is one 401-char piece with a high surrogate at index 255.
        string astral = "!" + string.Concat(Enumerable.Repeat("😀", 200));
        Assert.Single(TokenizerPieces(astral));
        Assert.True(char.IsHighSurrogate(astral[255]));
        long expected = Reference.O200k.CountTokens(astral[..255]) + Reference.O200k.CountTokens(astral[255..]);
        Assert.Equal(expected, counter.CountTokens(astral));
    }

    [Fact]
    public void CountTokens_PathologicalInput_TakesLinearTime()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        string run = new('a', 400_000); // the library alone needs about a minute for this (quadratic merge)
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(400_000 / 8, counter.CountTokens(run)); // "aaaaaaaa" is one token, and 256 is a multiple of 8
        // ~0.3 s on an idle core; the bound leaves room for a busy machine and still fails the quadratic minute.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void CountTokens_LoneSurrogates_AreCountedLikeTheLibraryDoes()
    {
        var counter = Tokenizers.Get(Tokenizers.O200kBase);
        foreach (string text in new[] { "a\ud800b", "\udc00", "x\ud800", "\ud800\ud800 end" })
        {
            Assert.Equal(Reference.O200k.CountTokens(text), counter.CountTokens(text));
        }
    }

    [Fact]
    public async Task CountTokens_FromManyThreads_GivesTheSameCountsAsSequentially()
    {
        var counter = Tokenizers.Get(Tokenizers.Cl100kBase);
        long[] expected = Corpus.Select(t => (long)counter.CountTokens(t)).ToArray();
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (int round = 0; round < 50; round++)
            {
                for (int i = 0; i < Corpus.Length; i++)
                {
                    Assert.Equal(expected[i], counter.CountTokens(Corpus[i]));
                }
            }
        }));
        await Task.WhenAll(workers);
    }

    private static Tokenizer ReferenceFor(string encoding) => encoding == "o200k_base" ? Reference.O200k : Reference.Cl100k;

    private static List<(int Offset, int Length)> TokenizerPieces(string text) => Reference.O200k.PreTokenizer!.PreTokenize(text).ToList();
}
