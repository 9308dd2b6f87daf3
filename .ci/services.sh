#!/usr/bin/env bash
# Starts the servers the tests talk to (Redis, a Redis Cluster, PostgreSQL,
# NATS with JetStream, RabbitMQ), if they are not already answering.
# Idempotent: running it twice changes nothing. Uses the machine's own start
# commands (see the node-svc machine notes). Exits non-zero if a server still
# does not answer, so CI fails instead of skipping tests.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

wait_for() { # name, check command...
  local name=$1; shift
  for _ in $(seq 1 "${TRIES:-50}"); do
    if "$@" >/dev/null 2>&1; then echo "$name: up"; return 0; fi
    sleep 0.2
  done
  echo "$name: NOT reachable" >&2
  return 1
}

status=0

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "redis: starting"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for redis redis-cli -h 127.0.0.1 -p 6379 ping || status=1

if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "postgresql: starting"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
wait_for postgresql pg_isready -h 127.0.0.1 -p 5432 || status=1

"$here/../scripts/redis-cluster.sh" start || status=1

listening() { # port: something accepts TCP connections on 127.0.0.1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if ! listening 4222; then
  echo "nats: starting"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
wait_for "nats (JetStream)" listening 4222 || status=1

if ! listening 5672; then
  echo "rabbitmq: starting"
  rabbitmq-server -detached
fi
# RabbitMQ takes seconds to boot.
TRIES=300 wait_for rabbitmq listening 5672 || status=1

exit $status
