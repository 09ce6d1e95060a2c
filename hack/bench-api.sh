#!/usr/bin/env bash
# Benchmarks usersapi on loopback against two bare net/http + pgx floors
# answering GET /users/{id} — PostgreSQL's row_to_json written as the body,
# and the row's columns encoded in Go (see hack/apibench): wrk with random
# ids and 32 connections, requests/s, p99 and the CPU per request of each
# server and its PostgreSQL backends; the full GET /users stream with the
# server's peak RSS; and a mixed load with RSS sampled over time.
#
# DATABASE_URL names a database holding synced users (make bench syncs
# 100,000 from the simulator first). Without it, a database usersapi_bench
# on TEST_DATABASE_URL's server is used and seeded with BENCH_USERS
# (default 100000) generated users when it holds fewer. Extra arguments go
# to apibench (e.g. -duration 15s -mixed 60s).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
mkdir -p "$BIN"
[ -x "$BIN/usersapi" ] || CGO_ENABLED=0 go build -trimpath -o "$BIN/usersapi" ./cmd/usersapi
go build -o "$BIN/apibench" ./hack/apibench
if [ -z "${DATABASE_URL:-}" ]; then
  server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
  if ! psql "$server" -tAc "SELECT 1 FROM pg_database WHERE datname = 'usersapi_bench'" | grep -q 1; then
    psql -q "$server" -c "CREATE DATABASE usersapi_bench"
  fi
  # Same server and options, database usersapi_bench.
  DATABASE_URL=$(printf '%s' "$server" | sed -E 's#^(postgres(ql)?://[^/]*)/[^?]*#\1/usersapi_bench#')
fi
exec env DATABASE_URL="$DATABASE_URL" "$BIN/apibench" -usersapi "$BIN/usersapi" -seed "${BENCH_USERS:-100000}" "$@"
