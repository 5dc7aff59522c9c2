using System.Buffers;
using System.Text;
using System.Text.Json;

namespace UltraRepo.Domain.Metering;

/// <summary>Where a JSON value sits in the payload: its exact bytes and its first token. An absent value has token None.</summary>
internal readonly record struct JsonValueRef(int Start, int Length, JsonTokenType Token)
{
    public bool IsPresent => Token != JsonTokenType.None;
}

/// <summary>
/// A validated UTF-8 JSON payload read in place: values are located as byte ranges and re-read on demand, so nothing
/// is materialised, and texts are unescaped into pooled buffers only to be tokenized.
/// </summary>
internal readonly ref struct JsonPayload
{
    // Deeper than the default 64 so that deeply nested but valid arguments are still metered; reading is iterative.
    internal static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };
    private const int StackChars = 256;

    private readonly ReadOnlySpan<byte> _json;
    private readonly JsonLayout _layout;
    private readonly ITokenCounter _counter;

    public JsonPayload(ReadOnlySpan<byte> json, JsonLayout layout, ITokenCounter counter)
    {
        _json = json;
        _layout = layout;
        _counter = counter;
    }

    public ReadOnlySpan<byte> Bytes(JsonValueRef value) => _json.Slice(value.Start, value.Length);

    /// <summary>Finds the members named in <paramref name="names"/> (last one wins, as in most JSON parsers).</summary>
    public void FindMembers(JsonValueRef obj, byte[][] names, Span<JsonValueRef> found)
    {
        found.Clear();
        if (obj.Token != JsonTokenType.StartObject)
        {
            return;
        }

        int position = JsonLayout.SkipWhitespace(_json, obj.Start + 1);
        while (_json[position] == (byte)'"')
        {
            int nameEnd = JsonLayout.SkipString(_json, position);
            int match = MatchName(_json[position..nameEnd], names);
            position = JsonLayout.SkipWhitespace(_json, JsonLayout.SkipWhitespace(_json, nameEnd) + 1); // past the ':'
            JsonValueRef value = _layout.ValueAt(_json, position);
            if (match >= 0)
            {
                found[match] = value;
            }

            position = JsonLayout.NextItem(_json, value.Start + value.Length);
        }
    }

    public JsonElements Elements(JsonValueRef array) => new(_json, _layout, array);

    public bool IsString(JsonValueRef value, ReadOnlySpan<byte> expected)
    {
        if (value.Token != JsonTokenType.String)
        {
            return false;
        }

        var reader = StringReader(value);
        return reader.ValueTextEquals(expected);
    }

    public string? GetString(JsonValueRef value)
    {
        if (value.Token != JsonTokenType.String)
        {
            return null;
        }

        var reader = StringReader(value);
        return TryGetString(ref reader);
    }

    /// <summary>Returns the known string equal to the value, so common names are not allocated again.</summary>
    public string? GetString(JsonValueRef value, KnownString[] known)
    {
        if (value.Token != JsonTokenType.String)
        {
            return null;
        }

        var reader = StringReader(value);
        foreach (KnownString candidate in known)
        {
            if (reader.ValueTextEquals(candidate.Utf8))
            {
                return candidate.Text;
            }
        }

        return TryGetString(ref reader);
    }

    public bool IsTrue(JsonValueRef value) => value.Token == JsonTokenType.True;

    public int? GetInt32(JsonValueRef value)
    {
        if (value.Token != JsonTokenType.Number)
        {
            return null;
        }

        var reader = new Utf8JsonReader(Bytes(value), ReaderOptions);
        reader.Read();
        return reader.TryGetInt32(out int number) ? number : null;
    }

    public string RawText(JsonValueRef value) => Encoding.UTF8.GetString(Bytes(value));

    /// <summary>A text field: the unescaped string; a value of any other type counts as raw JSON.</summary>
    public long Text(JsonValueRef value) => value.Token == JsonTokenType.String ? CountString(value) : Raw(value);

    /// <summary>Raw JSON, tokenized as it appears; absent, <c>null</c>, <c>{}</c> and <c>[]</c> carry nothing and count 0.</summary>
    public long Raw(JsonValueRef value)
    {
        if (value.Token is JsonTokenType.None or JsonTokenType.Null || IsEmptyContainer(value))
        {
            return 0;
        }

        ReadOnlySpan<byte> bytes = Bytes(value);
        char[]? rented = null;
        // UTF-16 never needs more code units than UTF-8 needs bytes.
        Span<char> buffer = bytes.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        try
        {
            int length = Encoding.UTF8.GetChars(bytes, buffer);
            return _counter.CountTokens(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Base64 data: the binary rule on the unescaped string's length and padding; any other type counts as raw JSON.</summary>
    public long Binary(JsonValueRef value)
    {
        if (value.Token != JsonTokenType.String)
        {
            return Raw(value);
        }

        ReadOnlySpan<byte> raw = Bytes(value)[1..^1];
        if (!raw.Contains((byte)'\\'))
        {
            return McpTokenAccounting.BinaryTokens(raw.Length, TrailingPadding(raw));
        }

        // Some encoders escape '/' as "\/"; the length that matters is the decoded string's.
        char[] rented = ArrayPool<char>.Shared.Rent(raw.Length);
        try
        {
            if (!JsonLayout.TryUnescape(raw, rented, out int length))
            {
                return McpTokenAccounting.BinaryTokens(raw.Length, TrailingPadding(raw)); // an invalid escape such as a lone surrogate
            }

            ReadOnlySpan<char> text = rented.AsSpan(0, length);
            int padding = text.EndsWith("==") ? 2 : text.EndsWith('=') ? 1 : 0;
            return McpTokenAccounting.BinaryTokens(length, padding);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    private long CountString(JsonValueRef value)
    {
        ReadOnlySpan<byte> quoted = Bytes(value);
        ReadOnlySpan<byte> raw = quoted[1..^1];
        if (raw.IsEmpty)
        {
            return 0;
        }

        char[]? rented = null;
        // Unescaped UTF-16 never needs more code units than the escaped UTF-8 has bytes.
        Span<char> buffer = raw.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(raw.Length));
        try
        {
            if (!JsonLayout.TryUnescape(raw, buffer, out int length))
            {
                length = Encoding.UTF8.GetChars(raw, buffer); // an escape that is no text (lone surrogate): count it as written
            }

            return _counter.CountTokens(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static int MatchName(ReadOnlySpan<byte> quotedName, byte[][] names)
    {
        ReadOnlySpan<byte> raw = quotedName[1..^1];
        if (raw.Contains((byte)'\\'))
        {
            return MatchEscapedName(quotedName, names);
        }

        for (int i = 0; i < names.Length; i++)
        {
            if (raw.SequenceEqual(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static int MatchEscapedName(ReadOnlySpan<byte> quotedName, byte[][] names)
    {
        var reader = new Utf8JsonReader(quotedName, ReaderOptions);
        reader.Read();
        for (int i = 0; i < names.Length; i++)
        {
            if (reader.ValueTextEquals(names[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static string? TryGetString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private Utf8JsonReader StringReader(JsonValueRef value)
    {
        var reader = new Utf8JsonReader(Bytes(value), ReaderOptions);
        reader.Read();
        return reader;
    }

    private bool IsEmptyContainer(JsonValueRef value) =>
        value.Token is JsonTokenType.StartObject or JsonTokenType.StartArray
        && _json.Slice(value.Start + 1, value.Length - 2).IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static int TrailingPadding(ReadOnlySpan<byte> base64) =>
        base64.EndsWith("=="u8) ? 2 : base64.EndsWith("="u8) ? 1 : 0;
}

/// <summary>A string with its UTF-8 bytes, to compare JSON values against without transcoding.</summary>
internal sealed record KnownString(string Text, byte[] Utf8)
{
    public static KnownString[] Of(params string[] texts) => Array.ConvertAll(texts, t => new KnownString(t, Encoding.UTF8.GetBytes(t)));
}

/// <summary>The elements of a JSON array, in order.</summary>
internal ref struct JsonElements
{
    private readonly ReadOnlySpan<byte> _json;
    private readonly JsonLayout _layout;
    private int _position;

    public JsonElements(ReadOnlySpan<byte> json, JsonLayout layout, JsonValueRef array)
    {
        _json = json;
        _layout = layout;
        _position = JsonLayout.SkipWhitespace(json, array.Start + 1);
    }

    public bool MoveNext(out JsonValueRef element)
    {
        if (_json[_position] == (byte)']')
        {
            element = default;
            return false;
        }

        element = _layout.ValueAt(_json, _position);
        _position = JsonLayout.NextItem(_json, element.Start + element.Length);
        return true;
    }
}
