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
    private readonly ITokenCounter _counter;

    public JsonPayload(ReadOnlySpan<byte> json, ITokenCounter counter)
    {
        _json = json;
        _counter = counter;
    }

    public ReadOnlySpan<byte> Bytes(JsonValueRef value) => _json.Slice(value.Start, value.Length);

    /// <summary>Reads the value the reader is on (skipping over a container) and reports where it is.</summary>
    public static JsonValueRef Capture(ref Utf8JsonReader reader, int offset)
    {
        int start = offset + (int)reader.TokenStartIndex;
        JsonTokenType token = reader.TokenType;
        if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            reader.Skip();
        }

        return new JsonValueRef(start, offset + (int)reader.BytesConsumed - start, token);
    }

    /// <summary>Finds the members named in <paramref name="names"/> (last one wins, as in most JSON parsers).</summary>
    public void FindMembers(JsonValueRef obj, byte[][] names, Span<JsonValueRef> found)
    {
        found.Clear();
        if (obj.Token != JsonTokenType.StartObject)
        {
            return;
        }

        var reader = new Utf8JsonReader(Bytes(obj), ReaderOptions);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int match = -1;
            for (int i = 0; i < names.Length; i++)
            {
                if (reader.ValueTextEquals(names[i]))
                {
                    match = i;
                    break;
                }
            }

            reader.Read();
            JsonValueRef value = Capture(ref reader, obj.Start);
            if (match >= 0)
            {
                found[match] = value;
            }
        }
    }

    public JsonElements Elements(JsonValueRef array) => new(Bytes(array), array.Start);

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

        var reader = StringReader(value);
        ReadOnlySpan<byte> raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped)
        {
            return McpTokenAccounting.BinaryTokens(raw.Length, TrailingPadding(raw));
        }

        // Some encoders escape '/' as "\/"; the length that matters is the decoded string's.
        char[] rented = ArrayPool<char>.Shared.Rent(raw.Length);
        try
        {
            int length = reader.CopyString(rented);
            ReadOnlySpan<char> text = rented.AsSpan(0, length);
            int padding = text.EndsWith("==") ? 2 : text.EndsWith('=') ? 1 : 0;
            return McpTokenAccounting.BinaryTokens(length, padding);
        }
        catch (InvalidOperationException)
        {
            return McpTokenAccounting.BinaryTokens(raw.Length, TrailingPadding(raw)); // an invalid escape such as a lone surrogate
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    private long CountString(JsonValueRef value)
    {
        var reader = StringReader(value);
        ReadOnlySpan<byte> raw = reader.ValueSpan;
        if (raw.IsEmpty)
        {
            return 0;
        }

        char[]? rented = null;
        Span<char> buffer = raw.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(raw.Length));
        try
        {
            int length;
            if (!reader.ValueIsEscaped)
            {
                length = Encoding.UTF8.GetChars(raw, buffer);
            }
            else if (!TryUnescape(ref reader, buffer, out length))
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

    private static bool TryUnescape(ref Utf8JsonReader reader, scoped Span<char> buffer, out int length)
    {
        try
        {
            length = reader.CopyString(buffer);
            return true;
        }
        catch (InvalidOperationException)
        {
            length = 0;
            return false;
        }
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
    private Utf8JsonReader _reader;
    private readonly int _offset;

    public JsonElements(ReadOnlySpan<byte> array, int offset)
    {
        _reader = new Utf8JsonReader(array, JsonPayload.ReaderOptions);
        _reader.Read();
        _offset = offset;
    }

    public bool MoveNext(out JsonValueRef element)
    {
        if (_reader.Read() && _reader.TokenType != JsonTokenType.EndArray)
        {
            element = JsonPayload.Capture(ref _reader, _offset);
            return true;
        }

        element = default;
        return false;
    }
}
