using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ListingAndConsumerDayRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_daily_server_name_bucket_start",
                table: "usage_daily");

            migrationBuilder.CreateTable(
                name: "usage_consumer_days",
                columns: table => new
                {
                    server_name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    month = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    consumer_id = table.Column<Guid>(type: "uuid", nullable: false),
                    days = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_consumer_days", x => new { x.server_name, x.month, x.consumer_id });
                });

            migrationBuilder.CreateTable(
                name: "usage_listing_daily",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    server_name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    total_tokens = table.Column<long>(type: "bigint", nullable: false),
                    billable_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost = table.Column<decimal>(type: "numeric(28,12)", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "bigint", nullable: false),
                    errors = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_listing_daily", x => new { x.server_name, x.bucket_start, x.currency });
                });

            // Filled from the daily rollup, exactly, in the migration's transaction (other nodes wait on the migration lock).
            migrationBuilder.Sql("""
                INSERT INTO usage_listing_daily (server_name, bucket_start, currency, total_tokens, billable_tokens, cost, requests, errors)
                SELECT server_name, bucket_start, currency, sum(total_tokens), sum(billable_tokens), sum(cost), sum(requests), sum(errors)
                FROM usage_daily GROUP BY 1, 2, 3;
                INSERT INTO usage_consumer_days (server_name, month, consumer_id, days)
                SELECT server_name, date_trunc('month', bucket_start, 'UTC'), consumer_id,
                       bit_or(1 << (extract(day FROM bucket_start AT TIME ZONE 'UTC')::int - 1))
                FROM usage_daily GROUP BY 1, 2, 3;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "usage_consumer_days");

            migrationBuilder.DropTable(
                name: "usage_listing_daily");

            migrationBuilder.CreateIndex(
                name: "ix_usage_daily_server_name_bucket_start",
                table: "usage_daily",
                columns: new[] { "server_name", "bucket_start" });
        }
    }
}
