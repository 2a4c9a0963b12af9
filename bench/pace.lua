-- Paces wrk to a request rate instead of as fast as it can: each connection
-- waits PACE_MS after a response before its next request, so C connections
-- send about C * 1000 / PACE_MS requests/s (a little less, by the latency).
-- done() prints the line bench/run.py reads: requests, seconds, p50, p99 and
-- max latency in ms, errors.
local pace = tonumber(os.getenv("PACE_MS") or "20")

function delay()
  return pace
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PACED %d %.3f %.3f %.3f %.3f %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
