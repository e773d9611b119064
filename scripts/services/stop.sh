#!/usr/bin/env bash
# Stop the services started by scripts/services/start.sh (Kafka first, then InfluxDB).
# Idempotent: stopping what is not running is fine. Only processes started from this
# checkout's .services/ configs are signalled (matched by PID file and the absolute
# config path on their command line): SIGTERM, then SIGKILL after a grace period.
# Data, jars and logs under .services/ are kept; `rm -rf .services` resets everything.
set -Eeuo pipefail
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T_START=$(now_ms)

stop_service() { # stop_service NAME PIDFILE MARKER GRACE_S
  local name=$1 pidfile=$2 marker=$3 grace=$4 t0 pid pids=()
  t0=$(now_ms)
  if pid=$(our_pid "$pidfile" "$marker"); then pids+=("$pid"); fi
  # Also any copy whose PID file was lost or overwritten.
  while read -r pid; do
    [[ -n $pid && " ${pids[*]} " != *" $pid "* ]] && pids+=("$pid")
  done < <(pids_with_marker "$marker")
  if ((${#pids[@]} == 0)); then
    log "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  log "$name: stopping pid ${pids[*]} ..."
  stop_pids "$name" "$grace" "${pids[@]}"
  rm -f "$pidfile"
  log "$name: stopped in $(elapsed "$t0")"
}

stop_service kafka "$KAFKA_PIDFILE" "$KAFKA_CONF" "$KAFKA_STOP_GRACE_S"
stop_service influxdb "$INFLUX_PIDFILE" "$INFLUX_CONF" "$INFLUX_STOP_GRACE_S"

for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$INFLUX_PORT" "$INFLUX_RPC_PORT"; do
  if port_open "$port"; then
    warn "127.0.0.1:$port is still in use by a process this script did not start:"
    who_listens "$port" >&2
  fi
done
log "all services stopped in $(elapsed "$T_START")"
