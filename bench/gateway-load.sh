#!/usr/bin/env bash
# Gateway overhead load test (tools/call with 1 KB and 32 KB results, JSON and SSE): constant-rate latency
# and maximum throughput, direct to a minimal upstream vs through the gateway, side by side in one run.
# Prints a markdown table for docs/benchmarks.md. Takes about 4 minutes with the defaults.
#   bench/gateway-load.sh [--seconds 15] [--rate 1000] [--warmup 3] [--throughput-seconds 10] [--workers 32]
#                         [--only json-1k,json-32k,sse-1k,sse-32k] [--gateway-env NAME=value]... [--gateway-switch property=value]...
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/UltraRepo.Host -v q -nologo >/dev/null
dotnet build -c Release bench/UltraRepo.Benchmarks -v q -nologo >/dev/null
exec dotnet bench/UltraRepo.Benchmarks/bin/Release/net10.0/UltraRepo.Benchmarks.dll gateway-load "$@"
