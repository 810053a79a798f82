#!/usr/bin/env bash
# One host on the Redis backend against the embedded store, in one run on this machine (README,
# "Scale-out on a Redis Cluster"): GET by id, userName eq, POST and PATCH with the load suite, on
# the embedded store, on a local Redis Cluster (bench/scripts/redis-cluster.sh) with ReplicaAcks 1,
# and the writes again with ReplicaAcks 0. Results: bench/results/load/redis-*.json.
#   bench/scripts/redis-vs-embedded.sh [USERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-20000}
seconds=${2:-15}
token=load-token-0123456789
port=8095
work=$(mktemp -d /tmp/scim-redis-bench.XXXXXX)

dotnet build -c Release src/Scim.Fast.Server >/dev/null
dotnet build -c Release bench/Scim.Fast.Load >/dev/null
server=src/Scim.Fast.Server/bin/Release/net10.0/Scim.Fast.Server.dll
load=bench/Scim.Fast.Load/bin/Release/net10.0/Scim.Fast.Load.dll
bench/scripts/redis-cluster.sh start "$work/redis" 7201
nodes=$(for p in $(seq 7201 7206); do printf '127.0.0.1:%s,' "$p"; done | sed 's/,$//')

run() { # label, server settings...
  local label=$1; shift
  dotnet "$server" --urls "http://127.0.0.1:$port" --Scim:DataDirectory="$work/data-$label" \
    --Scim:BearerTokens:0=$token --Logging:LogLevel:Scim.Fast.Requests=Warning --Logging:LogLevel:Default=Warning \
    --Scim:Limits:RequestsPerSecondPerToken=0 --Scim:Redis:KeyPrefix="$label:" "$@" >"$work/server-$label.log" 2>&1 &
  local pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
  local target="--target http://127.0.0.1:$port/scim/v2 --token $token --duration $seconds --warmup 3"
  if [ "$label" != "redis-acks0" ]; then
    dotnet "$load" read --op get --users "$users" $target --label "redis-bench-$label-get"
    dotnet "$load" read --op username --users "$users" $target --label "redis-bench-$label-username"
  fi
  dotnet "$load" write --op post $target --label "redis-bench-$label-post"
  dotnet "$load" write --op patch --users "$users" $target --label "redis-bench-$label-patch"
  kill "$pid"; wait "$pid" || true
}

run embedded
run redis-acks1 --Scim:Store=Redis --Scim:Redis:Configuration="$nodes" --Scim:Redis:ReplicaAcks=1
run redis-acks0 --Scim:Store=Redis --Scim:Redis:Configuration="$nodes" --Scim:Redis:ReplicaAcks=0
bench/scripts/redis-cluster.sh stop "$work/redis" 7201
rm -rf "$work"
