using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace UltraRepo.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class UsagePipeline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // usage_events becomes a table partitioned by month (declarative range partitioning on timestamp),
            // keyed by (timestamp, id); existing rows are copied into it. New partitions are created ahead by the
            // usage store as months come.
            migrationBuilder.Sql("""
                ALTER TABLE usage_events RENAME TO usage_events_unpartitioned;
                ALTER TABLE usage_events_unpartitioned ADD COLUMN transaction_id character varying(200);
                CREATE TABLE usage_events (LIKE usage_events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (timestamp);
                ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events_partitioned PRIMARY KEY (timestamp, id);
                DO $$
                DECLARE month date;
                BEGIN
                    FOR month IN
                        SELECT DISTINCT date_trunc('month', timestamp, 'UTC')::date FROM usage_events_unpartitioned
                        UNION SELECT (date_trunc('month', now(), 'UTC') + make_interval(months => n))::date FROM generate_series(0, 2) AS n
                    LOOP
                        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                            'usage_events_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM'),
                            month::text || ' 00:00:00+00', (month + interval '1 month')::date::text || ' 00:00:00+00');
                    END LOOP;
                END $$;
                INSERT INTO usage_events SELECT * FROM usage_events_unpartitioned;
                DROP TABLE usage_events_unpartitioned;
                CREATE INDEX ix_usage_events_consumer_id_timestamp ON usage_events (consumer_id, timestamp);
                CREATE INDEX ix_usage_events_consumer_id_server_name_period ON usage_events (consumer_id, server_name, period);
                CREATE INDEX ix_usage_events_server_name_timestamp ON usage_events (server_name, timestamp);
                """);

            migrationBuilder.CreateTable(
                name: "ingest_keys",
                columns: table => new
                {
                    publisher_id = table.Column<Guid>(type: "uuid", nullable: false),
                    transaction_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    event_id = table.Column<Guid>(type: "uuid", nullable: false),
                    event_timestamp = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ingest_keys", x => new { x.publisher_id, x.transaction_id });
                });

            migrationBuilder.CreateTable(
                name: "usage_daily",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    consumer_id = table.Column<Guid>(type: "uuid", nullable: false),
                    server_name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    output_tokens = table.Column<long>(type: "bigint", nullable: false),
                    total_tokens = table.Column<long>(type: "bigint", nullable: false),
                    billable_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost = table.Column<decimal>(type: "numeric(28,12)", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "bigint", nullable: false),
                    errors = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_daily", x => new { x.bucket_start, x.consumer_id, x.server_name, x.currency });
                });

            migrationBuilder.CreateTable(
                name: "usage_hourly",
                columns: table => new
                {
                    bucket_start = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    consumer_id = table.Column<Guid>(type: "uuid", nullable: false),
                    server_name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    output_tokens = table.Column<long>(type: "bigint", nullable: false),
                    total_tokens = table.Column<long>(type: "bigint", nullable: false),
                    billable_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost = table.Column<decimal>(type: "numeric(28,12)", precision: 28, scale: 12, nullable: false),
                    requests = table.Column<long>(type: "bigint", nullable: false),
                    errors = table.Column<long>(type: "bigint", nullable: false)
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

            migrationBuilder.Sql("""
                ALTER TABLE usage_events RENAME TO usage_events_partitioned;
                CREATE TABLE usage_events (LIKE usage_events_partitioned INCLUDING DEFAULTS);
                INSERT INTO usage_events SELECT * FROM usage_events_partitioned;
                DROP TABLE usage_events_partitioned;
                ALTER TABLE usage_events DROP COLUMN transaction_id;
                ALTER TABLE usage_events ADD CONSTRAINT pk_usage_events PRIMARY KEY (id);
                CREATE INDEX ix_usage_events_consumer_id_timestamp ON usage_events (consumer_id, timestamp);
                CREATE INDEX ix_usage_events_consumer_id_server_name_period ON usage_events (consumer_id, server_name, period);
                CREATE INDEX ix_usage_events_server_name_timestamp ON usage_events (server_name, timestamp);
                """);
        }
    }
}
