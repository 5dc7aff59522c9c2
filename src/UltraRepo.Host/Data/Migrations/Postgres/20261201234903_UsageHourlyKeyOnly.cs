using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class UsageHourlyKeyOnly : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_hourly_consumer_id_bucket_start",
                table: "usage_hourly");

            migrationBuilder.DropIndex(
                name: "ix_usage_hourly_server_name_bucket_start",
                table: "usage_hourly");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_consumer_id_bucket_start",
                table: "usage_hourly",
                columns: new[] { "consumer_id", "bucket_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_server_name_bucket_start",
                table: "usage_hourly",
                columns: new[] { "server_name", "bucket_start" });
        }
    }
}
