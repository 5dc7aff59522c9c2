#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL and Redis servers (started privately by
# scripts/services.sh) and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh)" || { echo "could not start PostgreSQL/Redis"; echo "0 passed, 0 failed"; exit 1; }

# Lago's JavaScript client (used to prove the ingest API is Lago-compatible).
if command -v npm >/dev/null 2>&1; then
  (cd tests/lago-client && npm ci --no-audit --no-fund --loglevel=error) || echo "npm ci failed in tests/lago-client"
fi

results=artifacts/test-results
rm -rf "$results"
dotnet test UltraRepo.slnx -c Release --logger trx --results-directory "$results" "$@"
status=$?

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(echo "$counters" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*')
  f=$(echo "$counters" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
