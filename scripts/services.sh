#!/usr/bin/env bash
# Starts a private PostgreSQL and Redis for the test suite (idempotent) and prints the
# environment variables that point the tests at them. Source-able:
#   eval "$(scripts/services.sh)"
set -euo pipefail

STATE="${ULTRAREPO_SERVICES_DIR:-/tmp/ultrarepo-services}"
PG_PORT="${ULTRAREPO_PG_PORT:-55432}"
REDIS_PORT="${ULTRAREPO_REDIS_PORT:-56379}"
mkdir -p "$STATE"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_if_missing() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  /usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >&2
  fi
}

start_postgres() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  local data="$STATE/pg"
  # PostgreSQL refuses to run as root: use the postgres account then.
  local run=()
  if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); chown postgres "$STATE"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
    {
      echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"
      echo "max_connections = 400"; echo "shared_buffers = 256MB"
    } >> "$data/postgresql.conf"
  fi
  if ! "${run[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    "${run[@]}" "$bin/pg_ctl" -D "$data" -o "-p $PG_PORT -k $STATE -c listen_addresses=127.0.0.1" -l "$STATE/pg.log" -w start >/dev/null
  fi
}

start_redis() {
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --dir "$STATE" --logfile "$STATE/redis.log" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

install_if_missing
start_postgres
start_redis
echo "export ULTRAREPO_TEST_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Maximum Pool Size=20'"
echo "export ULTRAREPO_TEST_REDIS='127.0.0.1:$REDIS_PORT'"
