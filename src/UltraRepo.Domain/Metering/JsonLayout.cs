using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace UltraRepo.Domain.Metering;

/// <summary>
/// A payload validated as JSON in one read, with where each of its strings, objects and arrays ends, so that walking it
/// afterwards never reads a value twice to skip it. (Re-reading with <see cref="Utf8JsonReader"/> validates again, byte by
/// byte once a string holds an escape: a 32 KB text four levels deep was validated six times.) The arrays are pooled;
/// <see cref="Return"/> gives them back.
/// </summary>
internal readonly struct JsonLayout
{
    private readonly int[] _starts; // ascending: values are recorded in the order they begin
    private readonly int[] _ends;
    private readonly int _count;

    private JsonLayout(int[] starts, int[] ends, int count, JsonValueRef root)
    {
        _starts = starts;
        _ends = ends;
        _count = count;
        Root = root;
    }

    /// <summary>The top-level object or array.</summary>
    public JsonValueRef Root { get; }

    /// <summary>Validates <paramref name="json"/> (structure and UTF-8) and records its layout; false if it is not JSON or its root is no object or array.</summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out JsonLayout layout)
    {
        layout = default;
        // The reader checks structure but not the UTF-8 inside strings; invalid UTF-8 is not JSON.
        if (!Utf8.IsValid(json))
        {
            return false;
        }

        int[] starts = ArrayPool<int>.Shared.Rent(16);
        int[] ends = ArrayPool<int>.Shared.Rent(16);
        int count = 0;
        Span<int> open = stackalloc int[JsonPayload.ReaderOptions.MaxDepth + 1]; // the entry of each open container, by depth
        try
        {
            var reader = new Utf8JsonReader(json, JsonPayload.ReaderOptions);
            if (!reader.Read() || reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                Return(starts, ends);
                return false;
            }

            JsonTokenType rootToken = reader.TokenType;
            int rootStart = (int)reader.TokenStartIndex;
            do
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        open[reader.CurrentDepth] = Add(ref starts, ref ends, ref count, (int)reader.TokenStartIndex);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        ends[open[reader.CurrentDepth]] = (int)reader.BytesConsumed;
                        break;
                    case JsonTokenType.String:
                        int entry = Add(ref starts, ref ends, ref count, (int)reader.TokenStartIndex); // may replace the arrays
                        ends[entry] = (int)reader.BytesConsumed;
                        break;
                }
            }
            while (reader.Read()); // the reader refuses anything after the root value and a root left open

            layout = new JsonLayout(starts, ends, count, new JsonValueRef(rootStart, ends[0] - rootStart, rootToken));
            return true;
        }
        catch (JsonException)
        {
            Return(starts, ends);
            return false;
        }
    }

    public void Return()
    {
        if (_starts is not null)
        {
            Return(_starts, _ends);
        }
    }

    /// <summary>The value starting at <paramref name="position"/>: where it is, how long, and its first token.</summary>
    public JsonValueRef ValueAt(ReadOnlySpan<byte> json, int position)
    {
        (int end, JsonTokenType token) = json[position] switch
        {
            (byte)'"' => (EndOf(position), JsonTokenType.String),
            (byte)'{' => (EndOf(position), JsonTokenType.StartObject),
            (byte)'[' => (EndOf(position), JsonTokenType.StartArray),
            (byte)'t' => (position + 4, JsonTokenType.True),
            (byte)'f' => (position + 5, JsonTokenType.False),
            (byte)'n' => (position + 4, JsonTokenType.Null),
            _ => (position + json[position..].IndexOfAny(NumberEnd), JsonTokenType.Number), // inside a container something always follows
        };
        return new JsonValueRef(position, end - position, token);
    }

    public static int SkipWhitespace(ReadOnlySpan<byte> json, int position)
    {
        while (position < json.Length && json[position] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            position++;
        }

        return position;
    }

    /// <summary>From the end of a member or element to the start of the next one, or to the closing bracket.</summary>
    public static int NextItem(ReadOnlySpan<byte> json, int afterValue)
    {
        int position = SkipWhitespace(json, afterValue);
        return json[position] == (byte)',' ? SkipWhitespace(json, position + 1) : position;
    }

    /// <summary>The index just past the (validated) string whose opening quote is at <paramref name="position"/>; for member names.</summary>
    public static int SkipString(ReadOnlySpan<byte> json, int position)
    {
        int i = position + 1;
        while (true)
        {
            i += json[i..].IndexOfAny(QuoteOrBackslash);
            if (json[i] == (byte)'"')
            {
                return i + 1;
            }

            i += 2; // the backslash and the character it escapes (a \uXXXX's digits hold neither quote nor backslash)
        }
    }

    /// <summary>
    /// Unescapes the contents of a validated string (without its quotes) into UTF-16, as <see cref="Utf8JsonReader.CopyString(Span{char})"/>
    /// does but without validating it again; false for an escape that is no text (a lone surrogate), which that method refuses too.
    /// </summary>
    public static bool TryUnescape(ReadOnlySpan<byte> contents, Span<char> buffer, out int length)
    {
        length = 0;
        while (true)
        {
            int backslash = contents.IndexOf((byte)'\\');
            length += Encoding.UTF8.GetChars(backslash < 0 ? contents : contents[..backslash], buffer[length..]);
            if (backslash < 0)
            {
                return true;
            }

            byte escaped = contents[backslash + 1];
            contents = contents[(backslash + 2)..];
            if (escaped != (byte)'u')
            {
                buffer[length++] = escaped switch
                {
                    (byte)'b' => '\b',
                    (byte)'f' => '\f',
                    (byte)'n' => '\n',
                    (byte)'r' => '\r',
                    (byte)'t' => '\t',
                    _ => (char)escaped, // '"', '\\' and '/' stand for themselves
                };
                continue;
            }

            char unit = (char)Hex4(contents);
            contents = contents[4..];
            if (char.IsLowSurrogate(unit))
            {
                return false;
            }

            if (char.IsHighSurrogate(unit))
            {
                if (!contents.StartsWith("\\u"u8) || !char.IsLowSurrogate((char)Hex4(contents[2..])))
                {
                    return false;
                }

                buffer[length++] = unit;
                unit = (char)Hex4(contents[2..]);
                contents = contents[6..];
            }

            buffer[length++] = unit;
        }
    }

    private static int Hex4(ReadOnlySpan<byte> digits)
    {
        int value = 0;
        foreach (byte digit in digits[..4])
        {
            value = (value << 4) + (digit <= (byte)'9' ? digit - '0' : (digit | 0x20) - 'a' + 10);
        }

        return value;
    }

    private static readonly SearchValues<byte> QuoteOrBackslash = SearchValues.Create("\"\\"u8);
    private static readonly SearchValues<byte> NumberEnd = SearchValues.Create(",}] \t\r\n"u8);

    private int EndOf(int start) => _ends[Array.BinarySearch(_starts, 0, _count, start)];

    private static int Add(ref int[] starts, ref int[] ends, ref int count, int start)
    {
        if (count == starts.Length)
        {
            Grow(ref starts, count);
            Grow(ref ends, count);
        }

        starts[count] = start;
        return count++;
    }

    private static void Grow(ref int[] array, int count)
    {
        int[] larger = ArrayPool<int>.Shared.Rent(array.Length * 2);
        array.AsSpan(0, count).CopyTo(larger);
        ArrayPool<int>.Shared.Return(array);
        array = larger;
    }

    private static void Return(int[] starts, int[] ends)
    {
        ArrayPool<int>.Shared.Return(starts);
        ArrayPool<int>.Shared.Return(ends);
    }
}
