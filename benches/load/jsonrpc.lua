-- wrk script: POSTs one JSON-RPC request, given as the BODY environment variable, and counts
-- answers that are not a JSON-RPC result (so a benchmark of errors is not mistaken for one of
-- results).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")

local failures = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) then
    failures = failures + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("p50 %.0f us, p99 %.0f us, %.0f requests/s, %d non-result answers\n",
    latency:percentile(50), latency:percentile(99), summary.requests / (summary.duration / 1e6), failures))
end
