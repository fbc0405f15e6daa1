-- http_post.lua - bench-http's wrk script: POST a small JSON body to the gateway's route and
-- print the figures as `result gateway <metric> <value>` lines, like the bench programs.
-- $BENCH_PAYLOAD sets the length of the message (default 64), as --payload does for
-- bench-http-direct.
local n = tonumber(os.getenv("BENCH_PAYLOAD") or "64")
local msg = {}
for i = 0, n - 1 do
  msg[#msg + 1] = string.char(string.byte("a") + i % 26)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"businessId":"100","msg":"' .. table.concat(msg) .. '","seq":"7"}'

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("result gateway throughput %.0f\n", summary.requests / seconds))
  io.write(string.format("result gateway p50_us %.1f\n", latency:percentile(50)))
  io.write(string.format("result gateway p99_us %.1f\n", latency:percentile(99)))
  io.write(string.format("result gateway requests %d\n", summary.requests))
  io.write(string.format("result gateway errors %d\n",
                         e.connect + e.read + e.write + e.status + e.timeout))
end
