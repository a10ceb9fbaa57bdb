-- wrk script: each request reports one module completion for one of the enrolled people, with a
-- completion time one millisecond earlier than that thread's last, so every request is a new event
-- that changes state (the earliest completion time of a module is kept) and is written durably.
-- The script's closing line compares requests with the events actually stored.
local ids = {}
for line in io.lines(os.getenv("ENROLMENT_IDS")) do ids[#ids + 1] = line end
local modules = { "inclusion-send-code", "identification", "adaptive-teaching", "speech-language-communication",
                  "visual-impairment", "assistive-technology", "parents-and-carers" }
local key = os.getenv("API_KEY")
local base = tonumber(os.getenv("BASE_EPOCH"))
local counter = 0
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local created = 0

-- Each thread reports for its own share of the people, so no two requests race on the same
-- module of the same person and every one of them is a real change.
function setup(thread)
  thread:set("index", created)
  created = created + 1
end

request = function()
  counter = counter + 1
  local slot = (counter * threads + index) % #ids
  local id = ids[slot + 1]
  local module = modules[(math.floor(counter / #ids) % #modules) + 1]
  local ms = base * 1000 - counter
  local completedAt = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
  return wrk.format("POST", "/api/v1/enrolments/" .. id .. "/modules/" .. module .. "/completion",
    { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" },
    '{"completedAt":"' .. completedAt .. '"}')
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests=%d errors=%d seconds=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, errors, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
