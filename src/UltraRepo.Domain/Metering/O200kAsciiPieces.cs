namespace UltraRepo.Domain.Metering;

/// <summary>
/// The o200k_base pre-tokenization pattern evaluated by hand for ASCII text, where the regex spends most of the counting
/// time. It gives exactly the regex's pieces: each alternative is tried in the pattern's order, with the backtracking
/// outcomes worked out for ASCII's disjoint letter classes. Whenever a decision would depend on a non-ASCII character
/// (which may be a letter, digit, mark or space in Unicode), it declines and the caller uses the regex for that piece.
/// </summary>
/// <remarks>
/// The pattern: <c>[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?</c>
/// | the same with <c>+</c> and <c>*</c> swapped | <c>\p{N}{1,3}</c> | <c> ?[^\s\p{L}\p{N}]+[\r\n/]*</c> | <c>\s*[\r\n]+</c>
/// | <c>\s+(?!\S)</c> | <c>\s+</c>.
/// </remarks>
internal static class O200kAsciiPieces
{
    public const int NeedsRegex = -1;

    private enum Kind : byte
    {
        End,
        Upper,
        Lower,
        Digit,
        Space,   // whitespace other than \r and \n
        Newline, // \r, \n
        Other,   // punctuation, symbols, control characters
        NonAscii,
    }

    private static readonly Kind[] AsciiKinds = BuildKinds();

    /// <summary>The end of the piece that starts at <paramref name="start"/>, or <see cref="NeedsRegex"/>.</summary>
    public static int PieceEnd(ReadOnlySpan<char> text, int start)
    {
        Kind first = KindAt(text, start);
        if (first == Kind.NonAscii)
        {
            return NeedsRegex;
        }

        // Letters, optionally after one character that is neither a line break, a letter nor a digit.
        if (first is Kind.Upper or Kind.Lower or Kind.Space or Kind.Other)
        {
            int letters = first is Kind.Upper or Kind.Lower ? start : start + 1;
            int uppers = Skip(text, letters, Kind.Upper);
            Kind afterUppers = KindAt(text, uppers);
            if (afterUppers == Kind.NonAscii)
            {
                return NeedsRegex;
            }

            int end = -1;
            if (afterUppers == Kind.Lower)
            {
                end = Skip(text, uppers, Kind.Lower); // uppercase* lowercase+
                if (KindAt(text, end) == Kind.NonAscii)
                {
                    return NeedsRegex;
                }
            }
            else if (uppers > letters)
            {
                end = uppers; // uppercase+ with no lowercase after it
            }

            if (end >= 0)
            {
                return WithContraction(text, end);
            }
        }

        if (first == Kind.Digit)
        {
            int end = start + 1;
            while (end < start + 3 && KindAt(text, end) == Kind.Digit)
            {
                end++;
            }

            return end < start + 3 && KindAt(text, end) == Kind.NonAscii ? NeedsRegex : end;
        }

        // Punctuation and symbols, optionally after one space, then any line breaks and slashes.
        int symbols = first == Kind.Space && text[start] == ' ' ? start + 1 : start;
        Kind symbol = KindAt(text, symbols);
        if (symbol == Kind.NonAscii)
        {
            return NeedsRegex;
        }

        if (symbol == Kind.Other)
        {
            int end = Skip(text, symbols, Kind.Other);
            if (KindAt(text, end) == Kind.NonAscii)
            {
                return NeedsRegex;
            }

            while (end < text.Length && text[end] is '\r' or '\n' or '/')
            {
                end++;
            }

            return end;
        }

        // Whitespace: up to the last line break of the run; else the run, leaving its last space to the next piece
        // when something follows (\s+(?!\S)); a single space before text is a piece of its own.
        int runEnd = start;
        int lastBreak = -1;
        while (KindAt(text, runEnd) is Kind.Space or Kind.Newline)
        {
            if (text[runEnd] is '\r' or '\n')
            {
                lastBreak = runEnd;
            }

            runEnd++;
        }

        if (KindAt(text, runEnd) == Kind.NonAscii)
        {
            return NeedsRegex; // it may be whitespace, extending the run
        }

        if (lastBreak >= 0)
        {
            return lastBreak + 1;
        }

        return runEnd == text.Length || runEnd - start == 1 ? runEnd : runEnd - 1;
    }

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)?
    private static int WithContraction(ReadOnlySpan<char> text, int end)
    {
        if (end >= text.Length || text[end] != '\'' || end + 1 >= text.Length)
        {
            return end;
        }

        char next = text[end + 1];
        if (next > 0x7F || (end + 2 < text.Length && text[end + 2] > 0x7F))
        {
            return NeedsRegex;
        }

        switch (char.ToLowerInvariant(next))
        {
            case 's' or 't' or 'm' or 'd':
                return end + 2;
            case 'r' or 'v' when end + 2 < text.Length && char.ToLowerInvariant(text[end + 2]) == 'e':
            case 'l' when end + 2 < text.Length && char.ToLowerInvariant(text[end + 2]) == 'l':
                return end + 3;
            default:
                return end;
        }
    }

    private static int Skip(ReadOnlySpan<char> text, int position, Kind kind)
    {
        while (KindAt(text, position) == kind)
        {
            position++;
        }

        return position;
    }

    private static Kind KindAt(ReadOnlySpan<char> text, int position) =>
        position >= text.Length ? Kind.End : text[position] < 0x80 ? AsciiKinds[text[position]] : Kind.NonAscii;

    private static Kind[] BuildKinds()
    {
        var kinds = new Kind[128];
        for (int c = 0; c < kinds.Length; c++)
        {
            kinds[c] = c switch
            {
                >= 'A' and <= 'Z' => Kind.Upper,
                >= 'a' and <= 'z' => Kind.Lower,
                >= '0' and <= '9' => Kind.Digit,
                '\r' or '\n' => Kind.Newline,
                '\t' or '\v' or '\f' or ' ' => Kind.Space, // .NET's \s in ASCII
                _ => Kind.Other,
            };
        }

        return kinds;
    }
}
