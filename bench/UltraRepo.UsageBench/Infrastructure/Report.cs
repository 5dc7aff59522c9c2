using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary>A markdown table, printed as it is (ready for docs/benchmarks.md).</summary>
public sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public MarkdownTable Add(params object?[] cells)
    {
        _rows.Add(cells.Select(Format).ToArray());
        return this;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("| ").AppendJoin(" | ", headers).AppendLine(" |");
        // Text columns left-aligned, numbers right-aligned (judged by the first row).
        text.Append('|').AppendJoin('|', headers.Select((_, i) => IsNumber(_rows.FirstOrDefault()?.ElementAtOrDefault(i)) ? "---:" : "---")).AppendLine("|");
        foreach (var row in _rows)
        {
            text.Append("| ").AppendJoin(" | ", row).AppendLine(" |");
        }

        return text.ToString();
    }

    public void Print() => Console.WriteLine(ToString());

    private static bool IsNumber(string? cell) =>
        cell is { Length: > 0 } && (char.IsDigit(cell[0]) || cell[0] == '*' && cell.Length > 2 && char.IsDigit(cell[2]));

    private static string Format(object? cell) => cell switch
    {
        null => "",
        double d => d.ToString(Math.Abs(d) >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture),
        long or int => string.Format(CultureInfo.InvariantCulture, "{0:N0}", cell),
        _ => Convert.ToString(cell, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>Exact percentiles (nearest rank over all samples), in milliseconds.</summary>
public sealed record Percentiles(int Count, double P50, double P90, double P95, double P99, double Max, double Mean)
{
    public static Percentiles Of(IReadOnlyCollection<double> milliseconds)
    {
        if (milliseconds.Count == 0)
        {
            return new Percentiles(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        var sorted = milliseconds.Order().ToArray();
        double Rank(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Percentiles(sorted.Length, Rank(0.50), Rank(0.90), Rank(0.95), Rank(0.99), sorted[^1], sorted.Average());
    }
}

public static class Ms
{
    public static string Of(double milliseconds) =>
        double.IsNaN(milliseconds) ? "–" : milliseconds.ToString(milliseconds < 10 ? "0.00" : milliseconds < 100 ? "0.0" : "N0", CultureInfo.InvariantCulture) + " ms";

    public static double Since(long timestamp) => Stopwatch.GetElapsedTime(timestamp).TotalMilliseconds;

    public static double Between(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}

public static class Rate
{
    public static string PerSecond(double count, TimeSpan elapsed) =>
        elapsed <= TimeSpan.Zero ? "–" : (count / elapsed.TotalSeconds).ToString("N0", CultureInfo.InvariantCulture) + "/s";

    public static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
}

/// <summary>The lines every subcommand prints before its table: machine, runtime, the exact command.</summary>
public static class Preamble
{
    public static void Print(string title, string[] args)
    {
        Console.WriteLine();
        Console.WriteLine($"## {title}");
        Console.WriteLine();
        Console.WriteLine($"Command: `bench/usage-load.sh {string.Join(' ', args.Select(Quote))}`");
        Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024 * 1024.0):0} GiB, {RuntimeInformation.OSDescription}; " +
            $".NET {Environment.Version} (Release, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC); load generator, host and database share the same {Environment.ProcessorCount} cores. " +
            $"Run at {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        Console.WriteLine();
    }

    public static void Progress(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    private static string Quote(string arg) => arg.Contains(' ', StringComparison.Ordinal) ? $"'{arg}'" : arg;
}
