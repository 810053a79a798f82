-- wrk script: GET /scim/v2/Users/{id} of ids picked at random from a file (one id per line).
--   WRK_IDS=ids.txt WRK_TOKEN=load-token-0123456789 wrk -t1 -c32 -d10s --latency -s bench/scripts/wrk-get-ids.lua http://127.0.0.1:8080
-- The ids: pages of GET /scim/v2/Users?attributes=id&count=1000&cursor= (RFC 9865), one id a line.
-- Against the baseline: `Scim.Fast.Load baseline-serve SAMPLES` (BaselineServer.cs: the samples file
-- holds a count, then kind, status, body per sample; kind "" answers requests without the kind header).
local ids = {}
for line in io.lines(os.getenv("WRK_IDS") or "ids.txt") do ids[#ids + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_TOKEN") or "load-token-0123456789")
request = function()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)])
end
