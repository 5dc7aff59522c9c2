using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CsCheck;
using UltraRepo.Domain.Metering;

namespace UltraRepo.Domain.Tests.Metering;

public class JsonLayoutTests
{
    private static readonly JsonSerializerOptions EscapeEverything = new(); // \uXXXX for all non-ASCII, surrogate pairs included
    private static readonly JsonSerializerOptions EscapeLittle = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static (bool Ok, string Text) Unescape(string jsonString)
    {
        byte[] quoted = Encoding.UTF8.GetBytes(jsonString);
        var buffer = new char[quoted.Length];
        bool ok = JsonLayout.TryUnescape(quoted.AsSpan(1, quoted.Length - 2), buffer, out int length);
        return (ok, new string(buffer, 0, length));
    }

    [Fact]
    public void TryUnescape_AnyText_GivesWhatSystemTextJsonReads()
    {
        var texts = Gen.OneOf(Gen.String, Gen.String[Gen.Char['\0', '\u00ff'], 0, 40], Gen.Const("\"\\/\b\f\n\r\t\u2028 😀 é"));
        texts.Sample(text =>
        {
            foreach (var options in new[] { EscapeEverything, EscapeLittle })
            {
                string json = JsonSerializer.Serialize(text, options);
                (bool ok, string unescaped) = Unescape(json);
                Assert.True(ok, json);
                Assert.Equal(JsonSerializer.Deserialize<string>(json), unescaped);
            }
        });
    }

    [Theory]
    [InlineData("\"\\/ \\u00E9\\u00e9 \\uD83D\\uDE00 \\b\\f\\n\\r\\t \\\" \\\\\"", "/ éé 😀 \b\f\n\r\t \" \\")]
    [InlineData("\"plain\"", "plain")]
    [InlineData("\"\"", "")]
    public void TryUnescape_EveryEscapeForm_IsDecoded(string json, string expected)
    {
        Assert.Equal((true, expected), Unescape(json));
        Assert.Equal(expected, JsonSerializer.Deserialize<string>(json));
    }

    [Theory]
    [InlineData("\"lone high \\ud800 surrogate\"")]
    [InlineData("\"lone low \\udc00 surrogate\"")]
    [InlineData("\"high then high \\ud800\\ud800\"")]
    [InlineData("\"high at the end \\ud83d\"")]
    public void TryUnescape_AnEscapeThatIsNoText_IsRefusedLikeSystemTextJson(string json)
    {
        Assert.False(Unescape(json).Ok);
        Assert.ThrowsAny<Exception>(() => JsonSerializer.Deserialize<string>(json));
    }
}
