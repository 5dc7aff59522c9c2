using System.Globalization;

namespace UltraRepo.UsageBench.Infrastructure;

/// <summary><c>--name value</c> options of one subcommand; unknown names are an error so typos do not go unnoticed.</summary>
public sealed class BenchArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public BenchArgs(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"expected an option (--name value), got '{args[i]}'");
            }

            var name = args[i][2..];
            _values[name] = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }
    }

    public int Option(string name, int fallback) => _values.TryGetValue(Mark(name), out var v) ? int.Parse(v.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture) : fallback;

    public double Option(string name, double fallback) => _values.TryGetValue(Mark(name), out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public bool Flag(string name) => _values.TryGetValue(Mark(name), out var v) && v != "false";

    public string Option(string name, string fallback) => _values.TryGetValue(Mark(name), out var v) ? v : fallback;

    /// <summary><c>--providers postgres,sqlite</c>.</summary>
    public IReadOnlyList<BenchProvider> Providers(string fallback = "postgres,sqlite") =>
        Option("providers", fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.ToLowerInvariant() switch
            {
                "postgres" or "postgresql" or "pg" => BenchProvider.Postgres,
                "sqlite" => BenchProvider.Sqlite,
                _ => throw new ArgumentException($"unknown provider '{p}' (postgres, sqlite)"),
            })
            .ToList();

    /// <summary>Throws for options nobody asked for.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }

    private string Mark(string name)
    {
        _read.Add(name);
        return name;
    }
}
