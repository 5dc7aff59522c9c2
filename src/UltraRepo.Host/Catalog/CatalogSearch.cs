using System.Text;
using Microsoft.EntityFrameworkCore;
using UltraRepo.Data;
using UltraRepo.Registry;

namespace UltraRepo.Catalog;

/// <summary>A full-text hit: the registry entry and its relevance (higher is better).</summary>
public sealed class SearchHit
{
    public Guid EntryId { get; set; }
    public double Score { get; set; }
}

/// <summary>
/// Ranked full-text search over name, title and description: SQLite FTS5 with BM25 in the embedded
/// mode, PostgreSQL tsvector with ts_rank_cd in scale-out. Every term is matched as a prefix and all
/// terms must match; name and title weigh more than description.
/// </summary>
public static class CatalogSearch
{
    public static IQueryable<SearchHit>? Hits(MarketplaceDb db, string text)
    {
        var terms = Terms(text);
        if (terms.Count == 0)
        {
            return null;
        }

        if (db.Provider == DatabaseProvider.Sqlite)
        {
            // FTS5 query syntax: quoted prefix terms, implicitly AND-ed. bm25 is lower-is-better, so negate it.
            var match = string.Join(' ', terms.Select(t => $"\"{t}\"*"));
            return db.Database.SqlQuery<SearchHit>(
                $"SELECT entry_id, -bm25(catalog_search, 0.0, 10.0, 6.0, 1.0) AS score FROM catalog_search WHERE catalog_search MATCH {match}");
        }

        var query = string.Join(" & ", terms.Select(t => $"{t}:*"));
        return db.Database.SqlQuery<SearchHit>(
            $"SELECT e.id AS entry_id, ts_rank_cd(e.search_vector, t.q)::float8 AS score FROM registry_entries e CROSS JOIN (SELECT to_tsquery('simple', {query}) || to_tsquery('english', {query}) AS q) t WHERE e.search_vector @@ t.q");
    }

    /// <summary>Letters and digits only: user text never reaches the query syntax.</summary>
    internal static List<string> Terms(string text)
    {
        var terms = new List<string>();
        var current = new StringBuilder();
        foreach (var c in text.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c))
            {
                current.Append(c);
            }
            else if (current.Length > 0)
            {
                terms.Add(current.ToString());
                current.Clear();
            }
        }

        if (current.Length > 0)
        {
            terms.Add(current.ToString());
        }

        return terms.Distinct().Take(12).ToList();
    }
}
