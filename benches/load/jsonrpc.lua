-- wrk script: POSTs one JSON-RPC request, given as the BODY environment variable, and prints
-- p50, p99 and requests/s. Answers are not inspected here (a Lua callback per response would
-- cost wrk time in proportion to the answer's size, on the cores the servers share); `run`
-- checks the answer with curl before loading.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")

done = function(summary, latency, requests)
  io.write(string.format("p50 %.0f us, p99 %.0f us, %.0f requests/s, %d errors\n",
    latency:percentile(50), latency:percentile(99), summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout))
end
