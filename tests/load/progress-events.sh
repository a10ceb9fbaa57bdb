#!/usr/bin/env bash
# A small load loop: single progress events over HTTP against the service on embedded SQLite, or on
# PostgreSQL when the standard libpq variables name a database (PGHOST, PGPORT, PGDATABASE, PGUSER,
# PGPASSWORD; the database should be empty).
# Usage: tests/load/progress-events.sh [seconds] [connections] [people]
# Needs wrk (Debian package "wrk"), python3 (to count stored events) and, for PostgreSQL, psql.
# Bounded in time; loopback only.
set -euo pipefail
seconds=${1:-20}; connections=${2:-32}; people=${3:-1000}
port=5199
source "$(dirname "$0")/service.sh"
if [ -n "${PGDATABASE:-}" ]; then
  count_events() { psql -qtAc "select count(*) from enrolment_events where type='module_completed'"; }
else
  count_events() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from enrolment_events where type='module_completed'\").fetchone()[0])" "$work/data/sendworkflows.db"; }
fi
start_service

python3 - "$people" >"$work/batch.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps([{"programmeId": "send-inclusion-core", "schoolUrn": "100004",
                   "staff": {"externalId": f"L-{i}", "givenName": "Load", "familyName": f"Test {i}",
                             "email": f"l{i}@school.example.org", "role": "teacher"}} for i in range(n)]))
PY
curl -fs -X POST "http://127.0.0.1:$port/api/v1/enrolments/batch" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' --data-binary @"$work/batch.json" |
  python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)["results"]]' >"$work/ids.txt"

before=$(count_events)
ENROLMENT_IDS="$work/ids.txt" API_KEY=$key BASE_EPOCH=$(date +%s) WRK_THREADS=2 \
  wrk -t2 -c"$connections" -d"${seconds}s" -s "$root/tests/load/progress-events.lua" "http://127.0.0.1:$port" | tail -n 1
after=$(count_events)
echo "events stored: $((after - before)) in ${seconds}s = $(( (after - before) / seconds )) events/s"
