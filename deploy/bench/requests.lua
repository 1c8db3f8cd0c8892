-- wrk script of `make bench`: requests read from a file of "method<TAB>path<TAB>token<TAB>body"
-- lines (ingest: one commune clerk's token for its own commune; queries: the summaries), each
-- request picked at random; prints the figures as one JSON line starting with BENCH.
-- wrk -t2 -c32 -d10s --latency -s requests.lua http://127.0.0.1:PORT -- requests.tsv
local lines = {}

function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^(.-)\t(.-)\t(.-)\t(.*)$")
    lines[#lines + 1] = wrk.format(method, path, {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
    }, body ~= "" and body or nil)
  end
  math.randomseed(os.time() + tonumber(tostring(lines):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return lines[math.random(#lines)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d,'
    .. ' "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
