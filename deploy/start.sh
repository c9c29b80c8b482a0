#!/usr/bin/env bash
# Start several `stations serve` replicas on one PostgreSQL database, and nginx in front.
#
#   STATIONS_DATABASE_URL=postgresql://... deploy/start.sh RUN_DIR LISTEN_PORT PORT [PORT ...]
#
# Each PORT gets a replica (`stations serve --port PORT`, same database, trusting the balancer
# on 127.0.0.1); nginx (Debian's) listens on LISTEN_PORT and balances them
# (deploy/nginx.conf.template, rendered into RUN_DIR with its logs and pid). Everything runs in
# the foreground; Ctrl-C (or SIGTERM) stops the whole set. The database schema must be current
# (`stations db upgrade`) and hold the stations (`stations db import FILE.geojson`). On several
# machines, run `stations serve` on each and list them in the upstream block instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="$1"; listen="$2"; shift 2
: "${STATIONS_DATABASE_URL:?set STATIONS_DATABASE_URL=postgresql://...}"
stations="${STATIONS_BIN:-stations}"
mkdir -p "$run"
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait || true; }
trap stop EXIT INT TERM

upstreams=""
for port in "$@"; do
  STATIONS_TRUSTED_PROXIES=127.0.0.1 "$stations" serve --port "$port" --wait-for-db 30 \
    --no-access-log >"$run/replica-$port.log" 2>&1 &
  pids+=($!)
  upstreams+="        server 127.0.0.1:$port max_fails=1 fail_timeout=10s;"$'\n'
done
sed -e "s|@RUN@|$run|g" -e "s|@LISTEN@|127.0.0.1:$listen|g" "$here/nginx.conf.template" \
  | awk -v up="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", up; else print }' \
  >"$run/nginx.conf"
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
"$nginx" -t -q -p "$run" -c "$run/nginx.conf"
"$nginx" -p "$run" -c "$run/nginx.conf" &
pids+=($!)
wait -n "${pids[@]}"  # one part ended: stop the rest (the trap)
