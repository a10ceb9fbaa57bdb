#!/usr/bin/env bash
# Batched xAPI ingest, for profiling between benchmark runs: builds the service in Release, starts it on
# embedded SQLite (or on PostgreSQL when PGDATABASE names an empty database, with PGHOST, PGPORT, PGUSER,
# PGPASSWORD as for psql), enrols people, posts batches of 1,000 statements and prints statements/s and
# the app's CPU per 1,000 statements (PostgreSQL's too when PG_POSTMASTER_PID is its postmaster's pid).
# Usage: tests/load/xapi-batches.sh [posters] [rounds] [more xapi_batches.py options]
# TRACE=FILE also records a 6-second CPU profile of the app while it ingests, in speedscope format
# (needs dotnet-trace: dotnet tool install -g dotnet-trace). Extra environment reaches the app, so
# A/B runs of runtime settings work: DOTNET_GCgen0size=0x2000000 tests/load/xapi-batches.sh
# Needs python3. Bounded by the statements it sends; loopback only.
set -euo pipefail
posters=${1:-2}; rounds=${2:-3}; shift $(( $# < 2 ? $# : 2 ))
port=5198
source "$(dirname "$0")/service.sh"
pg=(); [ -n "${PG_POSTMASTER_PID:-}" ] && pg=(--pg-postmaster "$PG_POSTMASTER_PID")
start_service

python3 "$root/tests/load/xapi_batches.py" "http://127.0.0.1:$port" "$key" "$app" --posters "$posters" --rounds "$rounds" "${pg[@]}" "$@" \
  >"$work/load.log" 2>&1 &
load=$!
if [ -n "${TRACE:-}" ]; then
  until grep -q measuring "$work/load.log" || ! kill -0 $load 2>/dev/null; do sleep 0.2; done
  sleep 1
  dotnet-trace collect -p "$app" --duration 00:00:06 --profile dotnet-sampled-thread-time --format Speedscope -o "$TRACE" >/dev/null
fi
wait $load || { cat "$work/load.log" >&2; exit 1; }
grep -v '^measuring' "$work/load.log"
