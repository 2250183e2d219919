#!/usr/bin/env bash
# make down: stop every service `make up` started (process groups from $STATE/pids, then
# PostgreSQL with pg_ctl) and check that nothing of the stack is left listening.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  service=${SERVICES[$i]}
  [[ $service == postgres ]] && continue
  stop_group "$service"
done
if pg_running; then
  as_postgres "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null && echo "stopped postgres"
fi
left=()
for port in "$PG_PORT" "$STAC_PORT" "$PREFECT_PORT" "$DASK_PORT" "$DASK_DASHBOARD_PORT" "$SERVE_PORT"; do
  listening "$port" && left+=("$port")
done
if ((${#left[@]})); then
  echo "make down: something still listens on 127.0.0.1 port(s) ${left[*]}; \`ss -ltnp\` shows which process (not one this stack recorded in $PIDS)" >&2
  exit 1
fi
echo "the local production stack is down (data kept in $STATE/pg; rm -rf $STATE to start afresh)"
