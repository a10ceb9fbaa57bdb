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
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
port=5198
key="load-test-admin-key-$(date +%s)-0123456789"
app=; trap 'if [ -n "$app" ]; then kill $app 2>/dev/null; wait $app 2>/dev/null; fi; rm -rf "$work"' EXIT

if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "port $port is already in use; stop whatever is listening there first" >&2; exit 1
fi
store=()
if [ -n "${PGDATABASE:-}" ]; then
  store=(--Storage:Provider=postgres
         "--Storage:ConnectionString=Host=${PGHOST:-127.0.0.1};Port=${PGPORT:-5432};Database=$PGDATABASE;Username=${PGUSER:-postgres};Password=${PGPASSWORD:-}")
fi
pg=(); [ -n "${PG_POSTMASTER_PID:-}" ] && pg=(--pg-postmaster "$PG_POSTMASTER_PID")
dotnet build -c Release "$root/src/SendWorkflows" -o "$work/app" >/dev/null
(cd "$work" && ASPNETCORE_ENVIRONMENT=Development Auth__BootstrapAdminKey=$key Logging__LogLevel__Default=Warning \
  PublicBaseUrl=https://send.example.org exec dotnet app/SendWorkflows.dll --urls "http://127.0.0.1:$port" "${store[@]}" >"$work/app.log" 2>&1) &
app=$!
for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the service did not start:" >&2; cat "$work/app.log" >&2; exit 1; }

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
