-- wrk script: POST JSON bodies read from a file (one per line), cycling through them.
-- Environment: WRK_BODIES (file), WRK_PATH (default /v1/score), WRK_API_KEY (X-API-Key, optional),
-- WRK_MAX_BODIES (default 500). At the end, one line "WRKJSON {...}" with the figures.
local bodies_file = os.getenv("WRK_BODIES")
local path = os.getenv("WRK_PATH") or "/v1/score"
local api_key = os.getenv("WRK_API_KEY")
local max_bodies = tonumber(os.getenv("WRK_MAX_BODIES") or "500")
local prepared = {}
local position = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if api_key and api_key ~= "" then headers["X-API-Key"] = api_key end
  for line in io.lines(bodies_file) do
    if #line > 0 then
      prepared[#prepared + 1] = wrk.format("POST", path, headers, line)
      if #prepared >= max_bodies then break end
    end
  end
  if #prepared == 0 then error("no body in " .. tostring(bodies_file)) end
  position = math.random(#prepared) - 1
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
