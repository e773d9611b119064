#!/usr/bin/env bash
# Start the local services the streaming pipeline talks to, bound to 127.0.0.1 only:
#   - Apache Kafka (single-node KRaft broker+controller) on 127.0.0.1:9092 (controller 9093),
#     jars fetched once from Maven Central with services/kafka/pom.xml
#   - InfluxDB 1.x (Debian's influxdb package) on 127.0.0.1:8086 (backup RPC 8088)
#
# Idempotent: a service that is already running is left alone and only health-checked.
# State, PID files and logs: .services/ (see docs/services.md). Stop with stop.sh.
# Non-interactive (CI=true, no stdin is fine). Needs: bash, node, java >= 11 and mvn
# (first run only); installs influxdb with apt-get (as root) when influxd is missing.
set -Eeuo pipefail
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_HEALTH_TIMEOUT_S=${KAFKA_HEALTH_TIMEOUT_S:-90}
INFLUX_HEALTH_TIMEOUT_S=${INFLUX_HEALTH_TIMEOUT_S:-30}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}

T_START=$(now_ms)
trap 'printf "[services] ERROR: start.sh failed (line %s) after %s\n" "$LINENO" "$(elapsed "$T_START")" >&2' ERR
mkdir -p "$KAFKA_DIR" "$KAFKA_LOGS" "$INFLUX_DIR"

# ---------------------------------------------------------------- prerequisites
check_prereqs() {
  command -v node >/dev/null 2>&1 || die "node is not on PATH (needed for the health checks)"
  command -v java >/dev/null 2>&1 ||
    die "java is not on PATH. Kafka needs a Java 11+ runtime (17 recommended), e.g. apt-get install -y openjdk-17-jre-headless"
  local major
  major=$(java_major)
  [[ $major =~ ^[0-9]+$ ]] || die "could not read the Java version from 'java -version'"
  ((major >= 11)) || die "java $major is too old for Kafka 3.9: need Java 11+ (17 recommended)"
  command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) is not on PATH"
  log "java $major at $(command -v java), node $(node --version)"
}

# ---------------------------------------------------------------- kafka
kafka_install() {
  local stamp="$KAFKA_LIBS/.stamp" want mvnlog="$KAFKA_DIR/mvn.log" pid
  want="pom-sha256=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  if [[ -f $stamp && $(<"$stamp") == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    log "kafka: jars cached in ${KAFKA_LIBS#"$SERVICES_ROOT"/} ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
    return 0
  fi
  if pid=$(our_pid "$KAFKA_PIDFILE" "$KAFKA_CONF"); then
    die "kafka: services/kafka/pom.xml changed while the broker runs (pid $pid): run stop.sh first, then start.sh"
  fi
  command -v mvn >/dev/null 2>&1 ||
    die "mvn is not on PATH: Maven is needed once to fetch Kafka from Maven Central (apt-get install -y maven)"
  log "kafka: fetching the broker jars from Maven Central (first run only; log: ${mvnlog#"$SERVICES_ROOT"/})"
  rm -rf "$KAFKA_LIBS.tmp"
  if ! timeout 1200 mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS.tmp" </dev/null >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2 || true
    die "mvn could not fetch Kafka (see $mvnlog). Is Maven Central reachable?"
  fi
  compgen -G "$KAFKA_LIBS.tmp/kafka_2.13-*.jar" >/dev/null || die "mvn finished but no kafka_2.13 jar was copied (see $mvnlog)"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  printf '%s\n' "$want" >"$stamp"
  log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1)"
}

# The JVM command line for Kafka main classes (broker and storage tool) on the cached jars.
read -r -a KAFKA_HEAP_ARGS <<<"$KAFKA_HEAP_OPTS"
KAFKA_JAVA=(java "${KAFKA_HEAP_ARGS[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  -Dkafka.logs.dir="$KAFKA_LOGS" -Dlog4j.configuration="file:$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*")

kafka_configure() {
  render "$KAFKA_TEMPLATE" "$KAFKA_CONF" "KAFKA_DATA_DIR=$KAFKA_DATA"
  cp "$KAFKA_LOG4J_TEMPLATE" "$KAFKA_LOG4J"
  if [[ -f $KAFKA_DATA/meta.properties ]]; then
    log "kafka: storage already formatted ($(grep -E '^cluster.id=' "$KAFKA_DATA/meta.properties" || true))"
    return 0
  fi
  local cluster_id
  mkdir -p "$KAFKA_DATA"
  cluster_id=$(java -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOGS" \
    kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOGS/format.log" | tail -n 1)
  [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: StorageTool random-uuid gave '$cluster_id' (see $KAFKA_LOGS/format.log)"
  if ! "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONF" --ignore-formatted \
    >>"$KAFKA_LOGS/format.log" 2>&1; then
    tail -n 20 "$KAFKA_LOGS/format.log" >&2 || true
    die "kafka: formatting the KRaft storage failed (see $KAFKA_LOGS/format.log)"
  fi
  log "kafka: formatted ${KAFKA_DATA#"$SERVICES_ROOT"/} with cluster id $cluster_id"
}

# running_pid NAME PIDFILE MARKER: print the PID of our running copy of a service, if any
# (from its PID file, or found by its config path when the PID file was lost).
running_pid() {
  local name=$1 pidfile=$2 marker=$3 pid
  if pid=$(our_pid "$pidfile" "$marker"); then
    printf '%s\n' "$pid"
    return 0
  fi
  pid=$(pids_with_marker "$marker" | head -n 1)
  [[ -n $pid ]] || return 1
  log "$name: running without a PID file (pid $pid); adopting it" >&2
  printf '%s\n' "$pid" >"$pidfile"
  printf '%s\n' "$pid"
}

# require_free_ports NAME PORT...: fail if another process listens on any of the ports.
require_free_ports() {
  local name=$1 port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      who_listens "$port" >&2
      local hint=""
      [[ $name == influxdb ]] && hint=" (a system influxdb service? try: service influxdb stop)"
      die "$name: 127.0.0.1:$port is already in use by a process this script did not start$hint"
    fi
  done
}

# Before launching anything: are the services already running, and are the ports free?
KAFKA_RUNNING_PID=""
INFLUX_RUNNING_PID=""
preflight() {
  if KAFKA_RUNNING_PID=$(running_pid kafka "$KAFKA_PIDFILE" "$KAFKA_CONF"); then
    log "kafka: already running (pid $KAFKA_RUNNING_PID)"
  else
    KAFKA_RUNNING_PID=""
    require_free_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  fi
  if INFLUX_RUNNING_PID=$(running_pid influxdb "$INFLUX_PIDFILE" "$INFLUX_CONF"); then
    log "influxdb: already running (pid $INFLUX_RUNNING_PID)"
  else
    INFLUX_RUNNING_PID=""
    require_free_ports influxdb "$INFLUX_PORT" "$INFLUX_RPC_PORT"
  fi
}

kafka_launch() {
  if [[ -n $KAFKA_RUNNING_PID ]]; then
    return 0
  fi
  launch "$KAFKA_PIDFILE" "$KAFKA_STDOUT" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_CONF"
  KAFKA_RUNNING_PID=$(<"$KAFKA_PIDFILE")
  log "kafka: launched (pid $KAFKA_RUNNING_PID)"
}

kafka_health() {
  if ! node "$HEALTH_SCRIPT" kafka --brokers "$SERVICES_HOST:$KAFKA_PORT" \
    --timeout "$KAFKA_HEALTH_TIMEOUT_S" --pid "$KAFKA_RUNNING_PID"; then
    echo "---- last lines of $KAFKA_LOGS/server.log ----" >&2
    tail -n 25 "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
    echo "---- last lines of $KAFKA_STDOUT ----" >&2
    tail -n 10 "$KAFKA_STDOUT" >&2 2>/dev/null || true
    return 1
  fi
}

# ---------------------------------------------------------------- influxdb
POLICY_RC=/usr/sbin/policy-rc.d
REMOVE_POLICY_RC=0
cleanup_policy_rc() {
  if ((REMOVE_POLICY_RC)); then rm -f "$POLICY_RC"; fi
  return 0
}
trap cleanup_policy_rc EXIT

influx_install() {
  if command -v influxd >/dev/null 2>&1; then
    log "influxdb: $(influxd version 2>/dev/null | head -n 1) at $(command -v influxd)"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "influxd is not on PATH and apt-get is missing: install InfluxDB 1.x (Debian package 'influxdb') by hand"
  if ((EUID != 0)); then
    die "influxd is not on PATH; installing it needs root: sudo apt-get install -y influxdb"
  fi
  local aptlog="$INFLUX_DIR/apt.log"
  # The package's maintainer scripts would start the system service (listening on all
  # interfaces). We run our own process instead, so forbid service starts while installing.
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\n# temporary, from ganf-stream scripts/services/start.sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    REMOVE_POLICY_RC=1
  fi
  log "influxdb: installing Debian's influxdb package (log: ${aptlog#"$SERVICES_ROOT"/})"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 900 apt-get update -q </dev/null >"$aptlog" 2>&1; then
    tail -n 15 "$aptlog" >&2 || true
    warn "apt-get update failed; trying the install with the package lists already on disk"
  fi
  if ! timeout 900 apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 influxdb \
    </dev/null >>"$aptlog" 2>&1; then
    tail -n 20 "$aptlog" >&2 || true
    die "apt-get install influxdb failed (see $aptlog)"
  fi
  cleanup_policy_rc
  REMOVE_POLICY_RC=0
  command -v influxd >/dev/null 2>&1 || die "the influxdb package installed but influxd is not on PATH"
  # Keep the distribution's service from starting at boot on systemd machines.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now influxdb >>"$aptlog" 2>&1 || true
    log "influxdb: disabled the system influxdb service (we run our own influxd)"
  fi
  log "influxdb: installed $(influxd version 2>/dev/null | head -n 1)"
}

influx_configure() {
  render "$INFLUX_TEMPLATE" "$INFLUX_CONF" "INFLUX_DIR=$INFLUX_DIR"
}

influx_launch() {
  if [[ -n $INFLUX_RUNNING_PID ]]; then
    return 0
  fi
  # INFLUXDB_* environment variables override the config file; drop them so the
  # loopback-only bind addresses in our config always apply.
  launch "$INFLUX_PIDFILE" "$INFLUX_LOG" \
    bash -c 'for v in $(compgen -e); do [[ $v == INFLUXDB_* ]] && unset "$v"; done; exec influxd -config "$0"' "$INFLUX_CONF"
  INFLUX_RUNNING_PID=$(<"$INFLUX_PIDFILE")
  log "influxdb: launched (pid $INFLUX_RUNNING_PID)"
}

influx_health() {
  if ! node "$HEALTH_SCRIPT" influx --url "http://$SERVICES_HOST:$INFLUX_PORT" \
    --timeout "$INFLUX_HEALTH_TIMEOUT_S" --pid "$INFLUX_RUNNING_PID"; then
    echo "---- last lines of $INFLUX_LOG ----" >&2
    tail -n 25 "$INFLUX_LOG" >&2 2>/dev/null || true
    return 1
  fi
}

# ---------------------------------------------------------------- main
step "prerequisites" check_prereqs
step "kafka: install" kafka_install
step "influxdb: install" influx_install
step "kafka: configure" kafka_configure
step "influxdb: configure" influx_configure
step "preflight (running? ports free?)" preflight
step "kafka: launch" kafka_launch
step "influxdb: launch" influx_launch
step "influxdb: health check" influx_health
step "kafka: health check" kafka_health

log "ready in $(elapsed "$T_START"):"
log "  kafka     PLAINTEXT://$SERVICES_HOST:$KAFKA_PORT  (pid $KAFKA_RUNNING_PID, logs ${KAFKA_LOGS#"$SERVICES_ROOT"/}/)"
log "  influxdb  http://$SERVICES_HOST:$INFLUX_PORT       (pid $INFLUX_RUNNING_PID, log ${INFLUX_LOG#"$SERVICES_ROOT"/})"
