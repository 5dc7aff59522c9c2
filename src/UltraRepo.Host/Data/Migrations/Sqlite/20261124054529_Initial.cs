using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "data_protection_keys",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    friendly_name = table.Column<string>(type: "TEXT", nullable: true),
                    xml = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_data_protection_keys", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "listings",
                columns: table => new
                {
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    owner_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_listings", x => x.server_name);
                });

            migrationBuilder.CreateTable(
                name: "pricing_versions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    effective_from = table.Column<DateTime>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    document = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pricing_versions", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "registry_entries",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    server_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    version = table.Column<string>(type: "TEXT", maxLength: 255, nullable: false),
                    @namespace = table.Column<string>(name: "namespace", type: "TEXT", maxLength: 200, nullable: false),
                    title = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    description = table.Column<string>(type: "TEXT", maxLength: 400, nullable: false),
                    server_json = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    status_message = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    status_changed_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    published_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    is_latest = table.Column<bool>(type: "INTEGER", nullable: false),
                    publisher_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    origin = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    has_remote = table.Column<bool>(type: "INTEGER", nullable: false),
                    has_package = table.Column<bool>(type: "INTEGER", nullable: false),
                    registry_types = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_registry_entries", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "users",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    email = table.Column<string>(type: "TEXT", maxLength: 254, nullable: false),
                    handle = table.Column<string>(type: "TEXT", maxLength: 39, nullable: false),
                    password_hash = table.Column<string>(type: "TEXT", nullable: false),
                    is_admin = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_users", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "api_keys",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    prefix = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    hash = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    last_used_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    revoked_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_keys", x => x.id);
                    table.ForeignKey(
                        name: "fk_api_keys_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "namespace_grants",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    @namespace = table.Column<string>(name: "namespace", type: "TEXT", maxLength: 200, nullable: false),
                    granted_by = table.Column<Guid>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_namespace_grants", x => x.id);
                    table.ForeignKey(
                        name: "fk_namespace_grants_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_api_keys_hash",
                table: "api_keys",
                column: "hash",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_api_keys_user_id",
                table: "api_keys",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_listings_owner_id",
                table: "listings",
                column: "owner_id");

            migrationBuilder.CreateIndex(
                name: "ix_namespace_grants_namespace",
                table: "namespace_grants",
                column: "namespace");

            migrationBuilder.CreateIndex(
                name: "ix_namespace_grants_user_id_namespace",
                table: "namespace_grants",
                columns: new[] { "user_id", "namespace" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_pricing_versions_server_name_effective_from",
                table: "pricing_versions",
                columns: new[] { "server_name", "effective_from" });

            migrationBuilder.CreateIndex(
                name: "ix_registry_entries_latest",
                table: "registry_entries",
                column: "server_name",
                unique: true,
                filter: "is_latest");

            migrationBuilder.CreateIndex(
                name: "ix_registry_entries_published_at",
                table: "registry_entries",
                column: "published_at");

            migrationBuilder.CreateIndex(
                name: "ix_registry_entries_server_name_version",
                table: "registry_entries",
                columns: new[] { "server_name", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_registry_entries_updated_at",
                table: "registry_entries",
                column: "updated_at");

            migrationBuilder.CreateIndex(
                name: "ix_users_email",
                table: "users",
                column: "email",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_users_handle",
                table: "users",
                column: "handle",
                unique: true);

            // Full-text search over name, title and description (FTS5), kept in sync by triggers.
            migrationBuilder.Sql("""
                CREATE VIRTUAL TABLE catalog_search USING fts5(entry_id UNINDEXED, name, title, description, tokenize = 'unicode61 remove_diacritics 2');
                CREATE TRIGGER registry_entries_search_insert AFTER INSERT ON registry_entries BEGIN
                    INSERT INTO catalog_search(entry_id, name, title, description) VALUES (new.id, new.server_name, coalesce(new.title, ''), new.description);
                END;
                CREATE TRIGGER registry_entries_search_update AFTER UPDATE OF title, description ON registry_entries BEGIN
                    UPDATE catalog_search SET title = coalesce(new.title, ''), description = new.description WHERE entry_id = new.id;
                END;
                CREATE TRIGGER registry_entries_search_delete AFTER DELETE ON registry_entries BEGIN
                    DELETE FROM catalog_search WHERE entry_id = old.id;
                END;
                INSERT INTO catalog_search(entry_id, name, title, description) SELECT id, server_name, coalesce(title, ''), description FROM registry_entries;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE IF EXISTS catalog_search;");

            migrationBuilder.DropTable(
                name: "api_keys");

            migrationBuilder.DropTable(
                name: "data_protection_keys");

            migrationBuilder.DropTable(
                name: "listings");

            migrationBuilder.DropTable(
                name: "namespace_grants");

            migrationBuilder.DropTable(
                name: "pricing_versions");

            migrationBuilder.DropTable(
                name: "registry_entries");

            migrationBuilder.DropTable(
                name: "users");
        }
    }
}
