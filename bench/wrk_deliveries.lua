-- wrk script for bench/intake.py: each wrk thread sends its own slice of a file of pre-signed,
-- unique deliveries ("<signature>\t<body>" per line), so no body is ever sent twice unless the
-- file runs out (counted as `wrapped`; the benchmark then reports the run as invalid).
-- Arguments after `--`: <file> <path> <threads>
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, path, nthreads = args[1], args[2], tonumber(args[3])
  requests, n, wrapped = {}, 0, 0
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == id then
      local signature, body = line:match("^(%S+)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = signature}, body)
    end
    line_no = line_no + 1
  end
end

function request()
  n = n + 1
  if n > #requests then n, wrapped = 1, wrapped + 1 end
  return requests[n]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do wraps = wraps + thread:get("wrapped") end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "non_2xx": %d, "socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f, "wrapped": %d}\n',
    summary.requests, summary.duration / 1e6, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wraps))
end
