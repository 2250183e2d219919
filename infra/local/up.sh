#!/usr/bin/env bash
# make up: the local production stack on 127.0.0.1 (see docs/operations.md, "Local production
# stack"). Each service is started, then health-checked with a timeout; a service of ours that
# already runs is left as it is, so `make up` twice is harmless.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
began=$SECONDS

[[ -x $VENV/bin/prefect ]] || die "no tiandi environment at $VENV (run \`make setup\`, or set TIANDI_VENV)"
[[ -x $STAC_VENV/bin/pypgstac ]] || die "no STAC server environment at $STAC_VENV (run \`make stac-venv\`)"

# Ports first: nothing is started when one is taken by someone else.
declare -A PORT_OF=([postgres]="$PG_PORT TIANDI_INFRA_PG_PORT" [stac-api]="$STAC_PORT TIANDI_INFRA_STAC_PORT"
  [prefect-server]="$PREFECT_PORT TIANDI_INFRA_PREFECT_PORT" [dask-scheduler]="$DASK_PORT TIANDI_INFRA_DASK_PORT"
  [tiandi-serve]="$SERVE_PORT TIANDI_INFRA_SERVE_PORT")
for service in "${!PORT_OF[@]}"; do
  read -r port var <<<"${PORT_OF[$service]}"
  if [[ $service == postgres ]]; then pg_running && continue; else alive_pid "$service" >/dev/null && continue; fi
  check_port "$service" "$port" "$var"
done
if ! alive_pid dask-scheduler >/dev/null; then
  check_port "dask-scheduler (dashboard)" "$DASK_DASHBOARD_PORT" TIANDI_INFRA_DASK_DASHBOARD_PORT
fi
mkdir -p "$LOGS" "$PIDS" "$STATE/secrets" "$STATE/pg" "$STATE/prefect" "$STATE/dask" "$STATE/home"

# --- PostgreSQL + PostGIS: a cluster of our own; the role tiandi logs in with a password
# kept in a libpq passfile (never printed); the superuser only over the unix socket.
BIN=$(pg_bin)
if [[ ! -f $PG_DATA/PG_VERSION ]]; then
  echo "initdb $PG_DATA"
  mkdir -p "$PG_DATA" "$PG_SOCK"
  [[ $(id -u) -eq 0 ]] && chown -R postgres: "$STATE/pg"
  as_postgres "$BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C >"$LOGS/postgres-initdb.log" 2>&1 || fail_log postgres-initdb "initdb failed"
fi
if ! pg_running; then
  touch "$LOGS/postgres.log"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$LOGS/postgres.log"
  echo "starting postgres on 127.0.0.1:$PG_PORT"
  as_postgres "$BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t "$TIMEOUT" \
    -o "-k $PG_SOCK -c listen_addresses=127.0.0.1 -p $PG_PORT" start >/dev/null ||
    fail_log postgres "did not start on 127.0.0.1:$PG_PORT"
fi
psql_su() { PGOPTIONS="-c client_min_messages=warning" as_postgres "$BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [[ ! -s $PASSFILE ]]; then
  umask 077
  echo "127.0.0.1:$PG_PORT:*:$DB_USER:$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')" >"$PASSFILE"
  umask 022
fi
password=$(cut -d: -f5- "$PASSFILE")
if [[ -z $(psql_su -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'") ]]; then
  psql_su -d postgres -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$password'"
  psql_su -d postgres -c "CREATE DATABASE $DB OWNER $DB_USER"
fi
psql_su -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis"

# --- pgstac schema (idempotent), the API's role may read and ingest.
echo "pypgstac migrate"
"$STAC_VENV/bin/pypgstac" migrate --dsn "postgresql://postgres@/$DB?host=$PG_SOCK&port=$PG_PORT" \
  >>"$LOGS/pgstac-migrate.log" 2>&1 || fail_log pgstac-migrate "pypgstac migrate failed"
psql_su -d "$DB" -c "GRANT pgstac_ingest TO $DB_USER"

# --- stac-fastapi-pgstac with the Transactions extension
if ! alive_pid stac-api >/dev/null; then
  echo "starting stac-api on 127.0.0.1:$STAC_PORT"
  PGUSER=$DB_USER PGPASSWORD=$password PGHOST=127.0.0.1 PGPORT=$PG_PORT PGDATABASE=$DB \
    ENABLE_TRANSACTIONS_EXTENSIONS=true STAC_FASTAPI_TITLE="tiandi STAC API" \
    start stac-api "$STAC_VENV/bin/uvicorn" stac_fastapi.pgstac.app:create_app --factory \
    --host 127.0.0.1 --port "$STAC_PORT" --log-level warning
fi

# --- Prefect server (its own SQLite database under $STATE/prefect)
if ! alive_pid prefect-server >/dev/null; then
  echo "starting prefect-server on 127.0.0.1:$PREFECT_PORT"
  start prefect-server "$VENV/bin/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT"
fi

# --- Dask scheduler and two workers
if ! alive_pid dask-scheduler >/dev/null; then
  echo "starting dask-scheduler on 127.0.0.1:$DASK_PORT"
  start dask-scheduler "$VENV/bin/dask" scheduler --host 127.0.0.1 --port "$DASK_PORT" \
    --dashboard-address "127.0.0.1:$DASK_DASHBOARD_PORT"
fi

wait_until stac-api "GET http://127.0.0.1:$STAC_PORT/_mgmt/ping" http_ok "http://127.0.0.1:$STAC_PORT/_mgmt/ping"
wait_until dask-scheduler "GET http://127.0.0.1:$DASK_DASHBOARD_PORT/health" http_ok "http://127.0.0.1:$DASK_DASHBOARD_PORT/health"
if ! alive_pid dask-workers >/dev/null; then
  echo "starting dask-workers (2) for tcp://127.0.0.1:$DASK_PORT"
  start dask-workers "$VENV/bin/dask" worker "tcp://127.0.0.1:$DASK_PORT" --nworkers 2 --nthreads 1 \
    --host 127.0.0.1 --memory-limit 2GiB --local-directory "$STATE/dask"
fi
two_workers() {
  curl -fsS --max-time 5 "http://127.0.0.1:$DASK_DASHBOARD_PORT/json/counts.json" | grep -q '"workers": *2\b\|"workers":2\b'
}
wait_until dask-workers "2 workers registered with tcp://127.0.0.1:$DASK_PORT" two_workers

wait_until prefect-server "GET $PREFECT_API_URL/health" http_ok "$PREFECT_API_URL/health"
if ! "$VENV/bin/prefect" work-pool inspect "$POOL" >/dev/null 2>&1; then
  "$VENV/bin/prefect" work-pool create "$POOL" --type process >>"$LOGS/prefect-server.log" 2>&1 ||
    fail_log prefect-server "could not create the work pool $POOL"
fi
if ! alive_pid prefect-worker >/dev/null; then
  echo "starting prefect-worker for work pool $POOL"
  # The worker's flow runs inherit its environment: the stack's patch store, STAC API and
  # scheduler (without them a scheduled run would use the embedded defaults in the checkout).
  stack_env start prefect-worker "$VENV/bin/prefect" worker start --pool "$POOL" --name tiandi-worker-1
fi
worker_online() {
  curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' -d '{}' \
    "$PREFECT_API_URL/work_pools/$POOL/workers/filter" | grep -q '"status":"ONLINE"'
}
wait_until prefect-worker "worker tiandi-worker-1 ONLINE in work pool $POOL" worker_online

# --- tiandi serve, on the PostGIS patch store
if ! alive_pid tiandi-serve >/dev/null; then
  echo "starting tiandi-serve on 127.0.0.1:$SERVE_PORT"
  stack_env start tiandi-serve "$VENV/bin/python" -m tiandi.cli.app serve --host 127.0.0.1 --port "$SERVE_PORT"
fi
wait_until tiandi-serve "GET http://127.0.0.1:$SERVE_PORT/openapi.json" http_ok "http://127.0.0.1:$SERVE_PORT/openapi.json"

cat <<EOF

tiandi local production stack is up ($((SECONDS - began)) s; state, logs and pids in $STATE):
  PostgreSQL/PostGIS + pgstac  127.0.0.1:$PG_PORT  database $DB, user $DB_USER (password in $PASSFILE)
  STAC API (transactions)      http://127.0.0.1:$STAC_PORT
  Prefect server (UI and API)  http://127.0.0.1:$PREFECT_PORT   work pool $POOL, 1 worker
  Dask scheduler               tcp://127.0.0.1:$DASK_PORT  dashboard http://127.0.0.1:$DASK_DASHBOARD_PORT/status, 2 workers
  tiandi service               http://127.0.0.1:$SERVE_PORT/api/v1  (docs: /docs)

export TIANDI_STAC_API_URL=http://127.0.0.1:$STAC_PORT
export TIANDI_PATCH_DSN='$(patch_dsn)'
export PREFECT_API_URL=$PREFECT_API_URL
export TIANDI_DASK_SCHEDULER=tcp://127.0.0.1:$DASK_PORT
export TIANDI_HOME=$STATE/home

make status shows what runs; make down stops it all (the data stays in $STATE/pg).
EOF
