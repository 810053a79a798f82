#!/usr/bin/env bash
# Restart time of a stopped server's data directory: starts the Release server on it, reports the
# seconds from process start to GET /readyz = 200 (store recovered, ordered indexes loaded) and the
# server's own load line, then stops it with SIGTERM (a clean stop: checkpoint and snapshot).
#   dotnet build -c Release src/Scim.Fast.Server && bench/restart-time.sh /tmp/scim-load [port]
set -euo pipefail
dir=${1:?usage: bench/restart-time.sh DATA_DIRECTORY [PORT]}
port=${2:-8080}
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
start=$(date +%s.%N)
dotnet "$root/src/Scim.Fast.Server/bin/Release/net10.0/Scim.Fast.Server.dll" --urls "http://127.0.0.1:$port" \
  --Scim:DataDirectory="$dir" --Scim:BearerTokens:0=restart-probe-token-0123456789 \
  --Logging:LogLevel:Scim.Fast.Requests=Warning >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -f "$log"' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = "200" ]; do
  kill -0 $pid 2>/dev/null || { echo "the server exited:"; cat "$log"; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
printf 'ready after %.2f s\n' "$(echo "$end - $start" | bc)"
sleep 0.5
grep -E "Store opened|Ordered indexes ready" "$log" | sed 's/^ *//'
kill -TERM $pid
wait $pid || true
