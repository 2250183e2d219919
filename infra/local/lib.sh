# Shared by up.sh, down.sh and status.sh: where the local production stack keeps its state,
# which ports it uses, and how a service is started, checked and stopped.
# Every service runs in a session and process group of its own (setsid); its pid (= its
# process group id) is in $STATE/pids/<service>.pid and its log in $STATE/logs/<service>.log.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${TIANDI_INFRA_STATE:-$ROOT/var/infra}
VENV=${TIANDI_VENV:-$ROOT/.venv}
STAC_VENV=${TIANDI_STAC_VENV:-$ROOT/.venv-stac}
PG_PORT=${TIANDI_INFRA_PG_PORT:-55432}
STAC_PORT=${TIANDI_INFRA_STAC_PORT:-8082}
PREFECT_PORT=${TIANDI_INFRA_PREFECT_PORT:-4200}
DASK_PORT=${TIANDI_INFRA_DASK_PORT:-8786}
DASK_DASHBOARD_PORT=${TIANDI_INFRA_DASK_DASHBOARD_PORT:-8787}
SERVE_PORT=${TIANDI_INFRA_SERVE_PORT:-8000}
TIMEOUT=${TIANDI_INFRA_TIMEOUT:-120}
POOL=tiandi-process
DB=tiandi
DB_USER=tiandi
PG_DATA=$STATE/pg/data
PG_SOCK=$STATE/pg/sock
PASSFILE=$STATE/secrets/pgpass
LOGS=$STATE/logs
PIDS=$STATE/pids
# Services in start order (down stops them in reverse).
SERVICES=(postgres stac-api prefect-server prefect-worker dask-scheduler dask-workers tiandi-serve)

export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export PREFECT_HOME=$STATE/prefect
export PREFECT_API_URL=http://127.0.0.1:$PREFECT_PORT/api

die() {
  echo "make up: $*" >&2
  exit 1
}

pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [[ -x $dir/initdb && -x $dir/pg_ctl ]] && { echo "$dir"; return; }
  done
  die "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin; install them with scripts/install-system-deps.sh (postgresql-15-postgis-3)"
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid of a service of ours that is still alive, or nothing
alive_pid() {
  local file=$PIDS/$1.pid pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

check_port() { # service port variable
  if listening "$2"; then
    die "port $2 (127.0.0.1) for $1 is taken by another process: \`ss -ltnp 'sport = :$2'\` shows which. Stop it, or give $1 another port: $3=<free port> make up"
  fi
}

start() { # service command...
  local service=$1
  shift
  mkdir -p "$LOGS" "$PIDS"
  echo "--- $(date -u +%FT%TZ) $*" >>"$LOGS/$service.log"
  setsid "$@" </dev/null >>"$LOGS/$service.log" 2>&1 &
  echo $! >"$PIDS/$service.pid"
}

fail_log() { # service what
  echo "make up: $1 $2; its log $LOGS/$1.log ends with:" >&2
  tail -n 15 "$LOGS/$1.log" >&2 || true
  echo "make up: stopping what was started (make down)" >&2
  bash "$ROOT/infra/local/down.sh" >&2 || true
  exit 1
}

wait_until() { # service description check-command...
  local service=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [[ $service != postgres ]] && ! alive_pid "$service" >/dev/null; then
      fail_log "$service" "exited before it answered ($what)"
    fi
    ((SECONDS < deadline)) || fail_log "$service" "did not answer within ${TIMEOUT} s ($what; TIANDI_INFRA_TIMEOUT=<seconds> to wait longer)"
    sleep 0.5
  done
}

http_ok() { curl -fsS --max-time 5 -o /dev/null "$1"; }

stop_group() { # service
  local file=$PIDS/$1.pid pid i
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "stopped $1 (process group $pid)"
  fi
  rm -f "$file"
}

pg_running() { [[ -f $PG_DATA/postmaster.pid ]] && as_postgres "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

patch_dsn() { echo "postgresql://$DB_USER@127.0.0.1:$PG_PORT/$DB?passfile=$PASSFILE"; }

# command...: runs it with the stack's settings, as the service and the Prefect worker (whose
# flow runs inherit them) need: the PostGIS patch store, the STAC API, the Dask scheduler.
stack_env() {
  TIANDI_HOME=$STATE/home TIANDI_PATCH_DSN=$(patch_dsn) TIANDI_STAC_API_URL=http://127.0.0.1:$STAC_PORT \
    TIANDI_DASK_SCHEDULER=tcp://127.0.0.1:$DASK_PORT "$@"
}
