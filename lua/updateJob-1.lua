--[[
  updateJob: change a job's progress or data, or append a log line (PROTOCOL.md §12.16).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] what: "progress" | "data" | "log"
  ARGV[3]  the progress JSON, the data JSON, or the log line
  ARGV[4]  (log) keep only this many lines, or ""

  Returns 0 (progress, data), the log length (log), or -1 when the job does not exist.
  Events: progress (jobId, data).
]]
--@include "includes/base.lua"

local B = KEYS[1]
local id, what, value = ARGV[1], ARGV[2], ARGV[3]
local jobKey = B .. id
if rcall("EXISTS", jobKey) == 0 then return -1 end
if what == "progress" then
  rcall("HSET", jobKey, "progress", value)
  emit(B, eventsCap(B), "event", "progress", "jobId", id, "data", value)
  return 0
elseif what == "data" then
  rcall("HSET", jobKey, "data", value)
  return 0
end
local logs = jobKey .. ":logs"
local n = rcall("RPUSH", logs, value)
local keep = tonumber(ARGV[4])
if keep then
  rcall("LTRIM", logs, -keep, -1)
  return math.min(n, keep)
end
return n
