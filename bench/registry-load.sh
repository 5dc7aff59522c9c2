#!/usr/bin/env bash
# Registry read load test (issue #2): 10,000 listings in the embedded SQLite store, driven by wrk
# against the running host. Prints wrk's latency distribution for each endpoint, with the output
# cache on (the default) and off.
#   bench/registry-load.sh [listings=10000] [seconds=15] [connections=16]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"; SECONDS_PER_RUN="${2:-15}"; CONNECTIONS="${3:-16}"
WORK="${BENCH_DIR:-/tmp/ultrarepo-bench}"
PORT=5090
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
mkdir -p "$WORK"
dotnet build -c Release src/UltraRepo.Host -v q -nologo >/dev/null
dotnet build -c Release bench/UltraRepo.Benchmarks -v q -nologo >/dev/null
if [ ! -f "$WORK/registry-$N.db" ]; then
  dotnet bench/UltraRepo.Benchmarks/bin/Release/net10.0/UltraRepo.Benchmarks.dll generate-listings "$N" "$WORK/listings-$N.json"
  ConnectionStrings__Sqlite="Data Source=$WORK/registry-$N.db" dotnet src/UltraRepo.Host/bin/Release/net10.0/UltraRepo.Host.dll import "$WORK/listings-$N.json" | tail -1
fi

run() {
  local caching=$1
  ConnectionStrings__Sqlite="Data Source=$WORK/registry-$N.db" Demo__Seed=false Registry__ResponseCaching=$caching \
    dotnet src/UltraRepo.Host/bin/Release/net10.0/UltraRepo.Host.dll --urls "http://127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v0/ping" >/dev/null && break; sleep 0.2; done
  for path in "/v0.1/servers?limit=30" "/api/catalog?q=weather%20query&limit=30"; do
    # Warm up JIT and caches, then measure.
    wrk -t1 -c4 -d3s "http://127.0.0.1:$PORT$path" >/dev/null
    echo "=== caching=$caching  GET $path  (${CONNECTIONS} connections, ${SECONDS_PER_RUN}s)"
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$PORT$path" | grep -E "Latency  |50%|90%|99%|Requests/sec"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run true
run false
