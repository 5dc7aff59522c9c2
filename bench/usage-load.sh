#!/usr/bin/env bash
# Usage pipeline and billing load tests (docs/benchmarks.md). Each subcommand prints a markdown table.
#   bench/usage-load.sh store       [--providers postgres,sqlite] [--pg-events 1000000] [--sqlite-events 300000] [--writers 64]
#                                   [--modes concurrent,backlog,paced] [--in-flight 1,2] [--max-batch 0,5000] (0 = the store's own)
#                                   paced: writers offer [--pg-rate 50000] / [--sqlite-rate 20000] events/s for [--seconds 30]
#                                   [--timestamps month|live] (spread over last month, the default, or stamped when appended)
#   bench/usage-load.sh ingest      [--providers postgres,sqlite] [--seconds 20] [--clients 4] [--batch 1000]
#   bench/usage-load.sh dashboards  [--events 10000000] [--consumers 5000] [--listings 200] [--requests 300]
#   bench/usage-load.sh freshness   [--providers postgres,sqlite] [--seconds 20] [--rate 200]
#   bench/usage-load.sh close       [--providers postgres,sqlite] [--consumers 10000] [--listings-per-consumer 5]
# PostgreSQL comes from ULTRAREPO_TEST_POSTGRES; scripts/services.sh starts a private server and exports it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${ULTRAREPO_TEST_POSTGRES:-}" ]]; then
  eval "$(scripts/services.sh)"
fi
dotnet build -c Release bench/UltraRepo.UsageBench -v q -nologo >/dev/null
exec dotnet bench/UltraRepo.UsageBench/bin/Release/net10.0/UltraRepo.UsageBench.dll "$@"
