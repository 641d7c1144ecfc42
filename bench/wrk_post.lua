-- POST pre-signed WeChat requests, each once, and print the run's numbers as one JSON line.
--
-- wrk -t T -c C -d D -s bench/wrk_post.lua URL -- REQUESTS_FILE T
-- REQUESTS_FILE has one request per line: "<path and signed query>\t<body>". Thread i of T
-- sends lines i, i+T, i+2T ... in order, so no two requests share a MsgId or a nonce. When a
-- thread runs out it starts over (the endpoint then sees WeChat-style retries) and says so in
-- the "reused" count, which bench/run.py reports.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, thread_count = args[1], tonumber(args[2] or "1")
  prepared, sent, reused = {}, 0, 0
  local line_number = 0
  for line in io.lines(file) do
    if line_number % thread_count == id then
      local tab = line:find("\t", 1, true)
      prepared[#prepared + 1] = wrk.format(
        "POST", line:sub(1, tab - 1), {["Content-Type"] = "text/xml"}, line:sub(tab + 1)
      )
    end
    line_number = line_number + 1
  end
end

function request()
  sent = sent + 1
  if sent > #prepared then
    reused = reused + 1
    return prepared[(sent - 1) % #prepared + 1]
  end
  return prepared[sent]
end

function done(summary, latency, requests)
  local reused_total = 0
  for _, thread in ipairs(threads) do
    reused_total = reused_total + (thread:get("reused") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"mean_us": %.1f, "max_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "reused": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, reused_total
  ))
end
