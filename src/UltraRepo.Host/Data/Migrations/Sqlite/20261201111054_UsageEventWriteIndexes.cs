using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class UsageEventWriteIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_events_consumer_id_server_name_period",
                table: "usage_events");

            migrationBuilder.DropIndex(
                name: "ix_usage_events_server_name_timestamp",
                table: "usage_events");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_usage_events_consumer_id_server_name_period",
                table: "usage_events",
                columns: new[] { "consumer_id", "server_name", "period" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_events_server_name_timestamp",
                table: "usage_events",
                columns: new[] { "server_name", "timestamp" });
        }
    }
}
