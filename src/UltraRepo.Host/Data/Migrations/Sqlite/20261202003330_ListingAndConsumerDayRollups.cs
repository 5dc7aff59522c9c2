using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Sqlite
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
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    month = table.Column<DateTime>(type: "TEXT", nullable: false),
                    consumer_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    days = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_consumer_days", x => new { x.server_name, x.month, x.consumer_id });
                });

            migrationBuilder.CreateTable(
                name: "usage_listing_daily",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "TEXT", nullable: false),
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    total_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    billable_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    cost = table.Column<decimal>(type: "TEXT", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "INTEGER", nullable: false),
                    errors = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_listing_daily", x => new { x.server_name, x.bucket_start, x.currency });
                });
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
