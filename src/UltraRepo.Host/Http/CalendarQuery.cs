using System.Globalization;

namespace UltraRepo.Http;

/// <summary>
/// Months (<c>YYYY-MM</c>) and days (<c>YYYY-MM-DD</c>) given in query parameters, as UTC midnights. Years are
/// limited to <see cref="FirstYear"/>–<see cref="LastYear"/>: far enough from <see cref="DateTime"/>'s ends that
/// every date derived from them (the next month, a default start 29 days earlier, the day after a range, a month's
/// end plus the grace period) can be computed, and wide enough for any real billing data.
/// </summary>
public static class CalendarQuery
{
    public const int FirstYear = 2000;
    public const int LastYear = 9998;

    public static readonly string MonthRule = $"YYYY-MM with a year from {FirstYear} to {LastYear}";

    public static readonly string DayRule = $"YYYY-MM-DD with a year from {FirstYear} to {LastYear}";

    /// <summary>The first day of the month <paramref name="text"/> names, or false if it is not a month in range.</summary>
    public static bool TryMonth(string? text, out DateTime start) => TryParse(text, "yyyy-MM", out start);

    /// <summary>The day <paramref name="text"/> names, or false if it is not a day in range.</summary>
    public static bool TryDay(string? text, out DateTime day) => TryParse(text, "yyyy-MM-dd", out day);

    private static bool TryParse(string? text, string format, out DateTime value)
    {
        if (DateTime.TryParseExact(text, format, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            && parsed.Year is >= FirstYear and <= LastYear)
        {
            value = DateTime.SpecifyKind(parsed, DateTimeKind.Utc);
            return true;
        }

        value = default;
        return false;
    }
}
