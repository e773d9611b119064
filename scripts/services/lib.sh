# shellcheck shell=bash
# Shared helpers for scripts/services/start.sh and stop.sh. Sourced, not executed.
#
# Everything the services write lives under .services/ at the repository root
# (git-ignored): the Kafka jars fetched from Maven Central, generated configs,
# data directories, PID files and logs.

SERVICES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$SERVICES_ROOT/.services"

# Fixed, loopback-only endpoints (see docs/services.md).
SERVICES_HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
INFLUX_PORT=8086
INFLUX_RPC_PORT=8088

KAFKA_POM="$SERVICES_ROOT/services/kafka/pom.xml"
KAFKA_TEMPLATE="$SERVICES_ROOT/services/kafka/server.properties.template"
KAFKA_LOG4J_TEMPLATE="$SERVICES_ROOT/services/kafka/log4j.properties"
KAFKA_DIR="$STATE_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_STDOUT="$KAFKA_LOGS/stdout.log"
KAFKA_STOP_GRACE_S=30

INFLUX_TEMPLATE="$SERVICES_ROOT/services/influxdb/influxdb.conf.template"
INFLUX_DIR="$STATE_DIR/influxdb"
INFLUX_CONF="$INFLUX_DIR/influxdb.conf"
INFLUX_PIDFILE="$INFLUX_DIR/influxd.pid"
INFLUX_LOG="$INFLUX_DIR/influxd.log"
INFLUX_STOP_GRACE_S=15

HEALTH_SCRIPT="$SERVICES_ROOT/scripts/services/health.mjs"

log() { printf '[services] %s\n' "$*"; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "1.23s"
  local end
  end=$(now_ms)
  awk -v a="$1" -v b="$end" 'BEGIN { printf "%.2fs", (b - a) / 1000 }'
}

# step "description" command args...: runs the command and prints how long it took.
# A failing command aborts the whole script (set -e); the ERR trap in start.sh says where.
step() {
  local what=$1 t0
  shift
  t0=$(now_ms)
  log "$what ..."
  "$@"
  log "$what: done in $(elapsed "$t0")"
}

# cmdline_of PID: the process's command line with NULs turned into spaces ("" if gone).
cmdline_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# our_pid PIDFILE MARKER: print the PID from PIDFILE if that process is alive and its
# command line contains MARKER (the absolute path of the config file we generated), so
# a stale PID file whose number was reused by an unrelated process is never trusted.
our_pid() {
  local pidfile=$1 marker=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cmdline_of "$pid") == *"$marker"* ]] || return 1
  printf '%s\n' "$pid"
}

# pids_with_marker MARKER: every live process whose command line contains MARKER
# (catches a service whose PID file was lost). MARKER is an absolute path under .services/.
pids_with_marker() {
  local marker=$1 dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    [[ $(cmdline_of "$pid") == *"$marker"* ]] || continue
    # Only the service itself: skip shells/greps that merely mention the path.
    case "$(cmdline_of "$pid")" in
      *java*kafka.Kafka*|*influxd*-config*) printf '%s\n' "$pid" ;;
    esac
  done
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/$SERVICES_HOST/$1") 2>/dev/null; }

# who_listens PORT: a human-readable description of the listener on PORT, if ss can tell.
who_listens() {
  if command -v ss >/dev/null 2>&1; then
    ss -Htlnp "sport = :$1" 2>/dev/null | sed 's/^/    /'
  fi
}

# render TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT replacing @KEY@ by VALUE.
render() {
  local template=$1 out=$2 kv key value content
  shift 2
  content=$(<"$template")
  for kv in "$@"; do
    key=${kv%%=*}
    value=${kv#*=}
    content=${content//@"$key"@/"$value"}
  done
  if grep -qE '@[A-Z_]+@' <<<"$content"; then
    die "unreplaced placeholder in $out: $(grep -oE '@[A-Z_]+@' <<<"$content" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$content" >"$out.tmp"
  mv "$out.tmp" "$out"
}

# launch PIDFILE LOGFILE COMMAND...: start COMMAND detached in its own session with
# stdin from /dev/null and output appended to LOGFILE; the PID written to PIDFILE is the
# service process itself (bash execs into it), so stop.sh can signal it directly.
launch() {
  local pidfile=$1 logfile=$2 i
  shift 2
  rm -f "$pidfile"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  die "could not launch $1 (no PID file after 5s); see $logfile"
}

# stop_pids NAME GRACE_S PID...: SIGTERM, wait up to GRACE_S seconds, then SIGKILL.
stop_pids() {
  local name=$1 grace=$2 deadline pid alive
  shift 2
  kill -TERM "$@" 2>/dev/null || true
  deadline=$(($(date +%s) + grace))
  while :; do
    alive=()
    for pid in "$@"; do
      if kill -0 "$pid" 2>/dev/null && [[ -n $(cmdline_of "$pid") ]]; then alive+=("$pid"); fi
    done
    ((${#alive[@]} == 0)) && return 0
    if (($(date +%s) >= deadline)); then
      warn "$name did not exit within ${grace}s after SIGTERM; sending SIGKILL to ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.5
      for pid in "${alive[@]}"; do
        if kill -0 "$pid" 2>/dev/null && [[ -n $(cmdline_of "$pid") ]]; then
          die "$name (pid $pid) is still alive after SIGKILL"
        fi
      done
      return 0
    fi
    sleep 0.2
  done
}

java_major() {
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}
