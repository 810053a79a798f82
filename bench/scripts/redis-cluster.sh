#!/usr/bin/env bash
# A local Redis Cluster for trying or measuring the Redis backend on one machine: six redis-server
# processes on 127.0.0.1 (three primaries, three replicas) with the settings README's "Scale-out on
# a Redis Cluster" requires (AOF, fsync always). Needs Debian's redis-server and redis-tools.
#   bench/scripts/redis-cluster.sh start [DIR] [FIRST_PORT]   # default /tmp/scim-redis, 7101
#   bench/scripts/redis-cluster.sh stop  [DIR] [FIRST_PORT]
# The server then runs with --Scim:Store=Redis --Scim:Redis:Configuration=127.0.0.1:7101,...,127.0.0.1:7106
set -euo pipefail
command=${1:-start}
dir=${2:-/tmp/scim-redis}
first=${3:-7101}
ports=$(seq "$first" $((first + 5)))

case "$command" in
start)
  for port in $ports; do
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --daemonize yes \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --appendonly yes --appendfsync always --save "" --repl-diskless-sync-delay 0 \
      --dir "$dir/$port" --logfile "$dir/$port/redis.log" --pidfile "$dir/$port/redis.pid"
  done
  for port in $ports; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  if ! redis-cli -p "$first" cluster info | grep -q 'cluster_state:ok'; then
    redis-cli --cluster create $(for port in $ports; do printf '127.0.0.1:%s ' "$port"; done) --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  until redis-cli -p "$first" cluster info | grep -q 'cluster_state:ok'; do sleep 0.2; done
  echo "Redis Cluster up: $(for port in $ports; do printf '127.0.0.1:%s,' "$port"; done | sed 's/,$//')"
  ;;
stop)
  for port in $ports; do
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  ;;
*)
  echo "usage: $0 start|stop [DIR] [FIRST_PORT]" >&2
  exit 2
  ;;
esac
