using System.Globalization;
using System.Text.RegularExpressions;

namespace UltraRepo.Benchmarks.Load;

/// <summary>One Prometheus histogram series: cumulative bucket counts by upper bound, sum and count.</summary>
internal sealed record HistogramSeries(SortedDictionary<double, double> Buckets, double Sum, double Count)
{
    public double MeanMs => Count == 0 ? double.NaN : Sum / Count * 1000;

    /// <summary>What was observed between <paramref name="earlier"/> and this scrape.</summary>
    public HistogramSeries Since(HistogramSeries? earlier)
    {
        if (earlier is null)
        {
            return this;
        }

        var buckets = new SortedDictionary<double, double>();
        foreach (var (le, count) in Buckets)
        {
            buckets[le] = count - earlier.Buckets.GetValueOrDefault(le);
        }

        return new HistogramSeries(buckets, Sum - earlier.Sum, Count - earlier.Count);
    }

    /// <summary>A quantile estimated like PromQL's histogram_quantile (linear within the bucket), in milliseconds.</summary>
    public double QuantileMs(double quantile)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var rank = quantile * Count;
        double lower = 0, below = 0;
        foreach (var (le, cumulative) in Buckets)
        {
            if (cumulative >= rank)
            {
                if (double.IsPositiveInfinity(le))
                {
                    return lower * 1000;
                }

                var inBucket = cumulative - below;
                return (lower + (le - lower) * (inBucket == 0 ? 1 : (rank - below) / inBucket)) * 1000;
            }

            lower = le;
            below = cumulative;
        }

        return lower * 1000;
    }
}

/// <summary>Histograms from a Prometheus text exposition, by metric name and <c>server</c> label.</summary>
internal sealed partial class PrometheusHistograms
{
    private readonly Dictionary<(string Metric, string Server), HistogramSeries> _series = [];

    public HistogramSeries? Find(string metric, string server) => _series.GetValueOrDefault((metric, server));

    public IEnumerable<(string Metric, string Server, HistogramSeries Series)> All =>
        _series.Select(kv => (kv.Key.Metric, kv.Key.Server, kv.Value));

    public static async Task<PrometheusHistograms> ScrapeAsync(HttpClient http, Uri metrics) =>
        Parse(await http.GetStringAsync(metrics));

    public static PrometheusHistograms Parse(string exposition)
    {
        var parsed = new PrometheusHistograms();
        var raw = new Dictionary<(string, string), (SortedDictionary<double, double> Buckets, double Sum, double Count)>();
        foreach (var line in exposition.Split('\n'))
        {
            var match = Sample().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var labels = match.Groups["labels"].Value;
            var server = Label(labels, "server");
            if (server is null)
            {
                continue;
            }

            var key = (match.Groups["metric"].Value, server);
            var entry = raw.TryGetValue(key, out var existing) ? existing : (new SortedDictionary<double, double>(), 0, 0);
            var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            switch (match.Groups["part"].Value)
            {
                case "bucket":
                    var le = Label(labels, "le")!;
                    entry.Buckets[le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture)] = value;
                    break;
                case "sum":
                    entry.Sum = value;
                    break;
                case "count":
                    entry.Count = value;
                    break;
            }

            raw[key] = entry;
        }

        foreach (var (key, (buckets, sum, count)) in raw)
        {
            parsed._series[key] = new HistogramSeries(buckets, sum, count);
        }

        return parsed;
    }

    private static string? Label(string labels, string name)
    {
        var match = Regex.Match(labels, $"(?:^|,){name}=\"(?<v>[^\"]*)\"");
        return match.Success ? match.Groups["v"].Value : null;
    }

    [GeneratedRegex("""^(?<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)_(?<part>bucket|sum|count)\{(?<labels>[^}]*)\} (?<value>\S+)""")]
    private static partial Regex Sample();
}
