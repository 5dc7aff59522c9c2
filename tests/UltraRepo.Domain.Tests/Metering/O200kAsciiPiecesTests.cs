using System.Text.RegularExpressions;
using CsCheck;
using UltraRepo.Domain.Metering;

namespace UltraRepo.Domain.Tests.Metering;

public class O200kAsciiPiecesTests
{
    private static readonly Regex Pattern = TiktokenCounter.O200kPieces();

    /// <summary>The regex's pieces, the reference.</summary>
    private static List<string> RegexPieces(string text) => Pattern.Matches(text).Select(m => m.Value).ToList();

    /// <summary>The hand-written splitter's pieces, with the regex deciding wherever it declines (as the counter does).</summary>
    private static List<string> SplitterPieces(string text)
    {
        var pieces = new List<string>();
        int start = 0;
        while (start < text.Length)
        {
            int end = O200kAsciiPieces.PieceEnd(text, start);
            if (end == O200kAsciiPieces.NeedsRegex)
            {
                Match first = Pattern.Match(text, start);
                Assert.Equal(start, first.Index);
                end = start + first.Length;
            }

            Assert.True(end > start, $"no progress at {start} in {text}");
            pieces.Add(text[start..end]);
            start = end;
        }

        return pieces;
    }

    [Theory]
    [InlineData("Hello world")]
    [InlineData("  indented\n\tcode();\r\n\r\n    return x;   \n\n\n")]
    [InlineData("It's what we've built; they'll see. I'M DONE'S 'RE 'Ll 'd")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"72F, sunny"}]}}""")]
    [InlineData("CamelCaseIdentifiers HTTPServer snake_case kebab-case ABC123def 1234567 3.14159e-10")]
    [InlineData("https://example.com/path/?q=1#x //comment\n/* block */ a//b\r\n/")]
    [InlineData("tab\tvtab\vform\fend   \n  \n x  ")]
    [InlineData("ctrl\u0001\u001f\u007fchars!!!   ")]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("'")]
    [InlineData("a'")]
    [InlineData("a'r")]
    [InlineData("A")]
    public void PieceEnd_GivesTheRegexPieces_OnAsciiText(string text)
    {
        Assert.Equal(RegexPieces(text), SplitterPieces(text));
    }

    [Fact]
    public void PieceEnd_OnlyNeedsTheRegexAroundNonAsciiCharacters()
    {
        const string text = "plain ascii text, café and more ascii";
        int declined = 0;
        for (int start = 0; start < text.Length;)
        {
            int end = O200kAsciiPieces.PieceEnd(text, start);
            if (end == O200kAsciiPieces.NeedsRegex)
            {
                declined++;
                end = start + Pattern.Match(text, start).Length;
            }

            start = end;
        }

        Assert.Equal(1, declined); // the piece " café"
    }

    [Fact]
    public void PieceEnd_GivesTheRegexPieces_OnRandomAsciiText()
    {
        // Every class the pattern distinguishes, and the characters of its contractions.
        const string alphabet = "aAzZsStTrReEvVmMlLdD09' \t\v\f\r\n/.,!-_{}\"\\\u0001\u007f";
        Gen.Char[alphabet].Array[0, 40].Select(chars => new string(chars))
            .Sample(text => Assert.Equal(RegexPieces(text), SplitterPieces(text)), iter: 20_000);
    }

    [Fact]
    public void PieceEnd_GivesTheRegexPieces_OnTextMixingAsciiAndUnicode()
    {
        // Non-ASCII letters of every case class, marks, digits, spaces and symbols next to ASCII ones.
        const string alphabet = "aZ9' \n\r\t/.-" + "éÉſǅʰ中ก\u0301\u0663\u00a0\u2028\u3000😀€«";
        Gen.Char[alphabet].Array[0, 40].Select(chars => new string(chars))
            .Sample(text => Assert.Equal(RegexPieces(text), SplitterPieces(text)), iter: 20_000);
    }
}
