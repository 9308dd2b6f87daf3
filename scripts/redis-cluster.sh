#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on 127.0.0.1:7000-7002 for the cluster tests.
#   scripts/redis-cluster.sh start   # idempotent: does nothing if the cluster is already up
#   scripts/redis-cluster.sh stop
set -euo pipefail

PORTS=(7000 7001 7002)
DIR="${CLAWSESSION_REDIS_CLUSTER_DIR:-/tmp/clawsession-redis-cluster}"

cluster_ok() {
  local port
  for port in "${PORTS[@]}"; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

start() {
  if cluster_ok; then
    echo "redis cluster already up on ${PORTS[*]}"
    return
  fi
  stop >/dev/null
  mkdir -p "$DIR"
  local port
  for port in "${PORTS[@]}"; do
    rm -f "$DIR/nodes-$port.conf"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$DIR/nodes-$port.conf" --save "" --appendonly no \
      --daemonize yes --dir "$DIR" --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid"
  done
  for port in "${PORTS[@]}"; do
    wait_for 50 redis-cli -p "$port" ping
  done
  local nodes=()
  for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log"
  wait_for 100 cluster_ok
  echo "redis cluster up on ${PORTS[*]}"
}

# Stops only the servers this script started (those with a pid file in $DIR).
stop() {
  local port
  for port in "${PORTS[@]}"; do
    if [[ -f "$DIR/redis-$port.pid" ]]; then
      redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
      rm -f "$DIR/redis-$port.pid"
    fi
  done
  for port in "${PORTS[@]}"; do
    wait_for 50 port_free "$port"
  done
  echo "redis cluster stopped"
}

port_free() {
  ! redis-cli -p "$1" ping >/dev/null 2>&1
}

# wait_for TRIES COMMAND...: runs COMMAND every 0.1 s until it succeeds.
wait_for() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $*" >&2
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
