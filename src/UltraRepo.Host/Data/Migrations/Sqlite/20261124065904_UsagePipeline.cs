using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class UsagePipeline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "transaction_id",
                table: "usage_events",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "ingest_keys",
                columns: table => new
                {
                    publisher_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    transaction_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    event_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    event_timestamp = table.Column<DateTime>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ingest_keys", x => new { x.publisher_id, x.transaction_id });
                });

            migrationBuilder.CreateTable(
                name: "usage_daily",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "TEXT", nullable: false),
                    consumer_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    total_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    billable_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    cost = table.Column<decimal>(type: "TEXT", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "INTEGER", nullable: false),
                    errors = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_daily", x => new { x.bucket_start, x.consumer_id, x.server_name, x.currency });
                });

            migrationBuilder.CreateTable(
                name: "usage_hourly",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "TEXT", nullable: false),
                    consumer_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    total_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    billable_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    cost = table.Column<decimal>(type: "TEXT", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "INTEGER", nullable: false),
                    errors = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_hourly", x => new { x.bucket_start, x.consumer_id, x.server_name, x.currency });
                });

            migrationBuilder.CreateIndex(
                name: "ix_usage_daily_consumer_id_bucket_start",
                table: "usage_daily",
                columns: new[] { "consumer_id", "bucket_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_daily_server_name_bucket_start",
                table: "usage_daily",
                columns: new[] { "server_name", "bucket_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_consumer_id_bucket_start",
                table: "usage_hourly",
                columns: new[] { "consumer_id", "bucket_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_server_name_bucket_start",
                table: "usage_hourly",
                columns: new[] { "server_name", "bucket_start" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ingest_keys");

            migrationBuilder.DropTable(
                name: "usage_daily");

            migrationBuilder.DropTable(
                name: "usage_hourly");

            migrationBuilder.DropColumn(
                name: "transaction_id",
                table: "usage_events");
        }
    }
}
