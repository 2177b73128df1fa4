-- wrk script: send one fixed request and print the run's numbers as one JSON line.
-- Arguments after `--`: METHOD BODY_FILE|- ["Name: value" ...]
-- The harness checks each scenario once before loading it; wrk counts statuses >= 400 as errors.

function init(args)
   wrk.method = args[1]
   if args[2] ~= "-" then
      local file = assert(io.open(args[2], "rb"))
      wrk.body = file:read("*a")
      file:close()
      wrk.headers["Content-Type"] = "application/json"
   end
   for index = 3, #args do
      local name, value = args[index]:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeout_errors":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
