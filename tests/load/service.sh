# Sourced by the load loops (not run on its own). Sets root, work (a temporary folder), key (an admin
# key) and store (the app's storage arguments: embedded SQLite, or PostgreSQL when PGDATABASE names an
# empty database, with PGHOST, PGPORT, PGUSER and PGPASSWORD as for psql), checks that $port is free,
# and on exit stops the app and removes the folder. start_service builds the service in Release and
# starts it on 127.0.0.1:$port; its pid is in $app. The caller sets port first.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
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

start_service() {
  dotnet build -c Release "$root/src/SendWorkflows" -o "$work/app" >/dev/null
  (cd "$work" && ASPNETCORE_ENVIRONMENT=Development Auth__BootstrapAdminKey=$key Logging__LogLevel__Default=Warning \
    PublicBaseUrl=https://send.example.org exec dotnet app/SendWorkflows.dll --urls "http://127.0.0.1:$port" "${store[@]}" >"$work/app.log" 2>&1) &
  app=$!
  for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "the service did not start:" >&2; cat "$work/app.log" >&2; exit 1; }
}
