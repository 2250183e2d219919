#!/usr/bin/env bash
# make status: which services of the local production stack run, with their addresses.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

row() { printf '  %-15s %-8s %s\n' "$1" "$2" "$3"; }
echo "tiandi local production stack ($STATE):"
if pg_running; then row postgres up "127.0.0.1:$PG_PORT (log $LOGS/postgres.log)"; else row postgres down ""; fi
declare -A WHERE=([stac-api]="http://127.0.0.1:$STAC_PORT" [prefect-server]="$PREFECT_API_URL"
  [prefect-worker]="work pool $POOL" [dask-scheduler]="tcp://127.0.0.1:$DASK_PORT"
  [dask-workers]="2 workers" [tiandi-serve]="http://127.0.0.1:$SERVE_PORT/api/v1")
down=0
for service in "${SERVICES[@]:1}"; do
  if pid=$(alive_pid "$service"); then
    row "$service" up "${WHERE[$service]} (pid $pid, log $LOGS/$service.log)"
  else
    row "$service" down ""
    down=1
  fi
done
pg_running || down=1
exit $down
