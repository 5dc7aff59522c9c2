using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class InvoicePaymentUrl : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "payment_url",
                table: "invoices",
                type: "character varying(1000)",
                maxLength: 1000,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "payment_url",
                table: "invoices");
        }
    }
}
