using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Sqlite
{
    /// <summary>
    /// The four usage rollups become WITHOUT ROWID tables: each row lives once, in its primary key's b-tree, instead of
    /// in a rowid table plus an automatic index on the key, so every rollup upsert of the usage shipper writes one tree
    /// instead of two (docs/benchmarks.md). SQLite cannot change this in place, so each table is rebuilt with its rows.
    /// EF Core does not model WITHOUT ROWID: a later migration that rebuilds one of these tables must keep the clause.
    /// </summary>
    public partial class RollupsWithoutRowid : Migration
    {
        private const string Totals = """
            "input_tokens" INTEGER NOT NULL,
            "output_tokens" INTEGER NOT NULL,
            "total_tokens" INTEGER NOT NULL,
            "billable_tokens" INTEGER NOT NULL,
            "cost" TEXT NOT NULL,
            "requests" INTEGER NOT NULL,
            "errors" INTEGER NOT NULL
            """;

        private static readonly (string Table, string Columns, string Key, string[] Indexes)[] Tables =
        [
            ("usage_hourly", $"""
                "bucket_start" TEXT NOT NULL,
                "consumer_id" TEXT NOT NULL,
                "server_name" TEXT NOT NULL,
                "currency" TEXT NOT NULL,
                {Totals}
                """, """CONSTRAINT "pk_usage_hourly" PRIMARY KEY ("bucket_start", "consumer_id", "server_name", "currency")""", []),
            ("usage_daily", $"""
                "bucket_start" TEXT NOT NULL,
                "consumer_id" TEXT NOT NULL,
                "server_name" TEXT NOT NULL,
                "currency" TEXT NOT NULL,
                {Totals}
                """, """CONSTRAINT "pk_usage_daily" PRIMARY KEY ("bucket_start", "consumer_id", "server_name", "currency")""",
                ["""CREATE INDEX "ix_usage_daily_consumer_id_bucket_start" ON "usage_daily" ("consumer_id", "bucket_start")"""]),
            ("usage_listing_daily", """
                "bucket_start" TEXT NOT NULL,
                "server_name" TEXT NOT NULL,
                "currency" TEXT NOT NULL,
                "total_tokens" INTEGER NOT NULL,
                "billable_tokens" INTEGER NOT NULL,
                "cost" TEXT NOT NULL,
                "requests" INTEGER NOT NULL,
                "errors" INTEGER NOT NULL
                """, """CONSTRAINT "pk_usage_listing_daily" PRIMARY KEY ("server_name", "bucket_start", "currency")""", []),
            ("usage_consumer_days", """
                "server_name" TEXT NOT NULL,
                "month" TEXT NOT NULL,
                "consumer_id" TEXT NOT NULL,
                "days" INTEGER NOT NULL
                """, """CONSTRAINT "pk_usage_consumer_days" PRIMARY KEY ("server_name", "month", "consumer_id")""", []),
        ];

        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder) => Rebuild(migrationBuilder, withoutRowid: true);

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder) => Rebuild(migrationBuilder, withoutRowid: false);

        private static void Rebuild(MigrationBuilder migrationBuilder, bool withoutRowid)
        {
            foreach (var (table, columns, key, indexes) in Tables)
            {
                var names = string.Join(", ", columns.Split('\n').Select(line => line.Trim().Split(' ')[0]));
                migrationBuilder.Sql($"""CREATE TABLE "{table}_rebuilt" ({columns}, {key}){(withoutRowid ? " WITHOUT ROWID" : "")};""");
                migrationBuilder.Sql($"""INSERT INTO "{table}_rebuilt" ({names}) SELECT {names} FROM "{table}";""");
                migrationBuilder.Sql($"""DROP TABLE "{table}";""");
                migrationBuilder.Sql($"""ALTER TABLE "{table}_rebuilt" RENAME TO "{table}";""");
                foreach (var index in indexes)
                {
                    migrationBuilder.Sql(index + ";");
                }
            }
        }
    }
}
