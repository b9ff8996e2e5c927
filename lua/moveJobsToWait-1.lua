--[[
  moveJobsToWait: bulk re-run of failed or completed jobs, or promotion of delayed ones
  (PROTOCOL.md §12.20, `retryJobs` / `promoteJobs`). Priorities are not honoured: all go to wait.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  state: failed | completed | delayed   ARGV[2] max jobs   ARGV[3] only jobs scored
           at or below this (ms, or "+inf")

  Returns 1 when `max` jobs were moved (call again), else 0.
  Events: waiting (prev=<state>) per job.
]]
--@include "includes/base.lua"
--@include "includes/rerun.lua"

local B = KEYS[1]
local state, count, upTo = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local setKey = B .. state
local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", upTo, "LIMIT", 0, count)
if #ids == 0 then return 0 end
local cap = eventsCap(B)
for _, id in ipairs(ids) do
  local jobKey = B .. id
  if state == "failed" then
    rcall("HDEL", jobKey, "finishedOn", "processedOn", "failedReason")
    reattachToParent(jobKey, state)
  elseif state == "completed" then
    rcall("HDEL", jobKey, "finishedOn", "processedOn", "returnvalue")
    reattachToParent(jobKey, state)
  else
    rcall("HSET", jobKey, "delay", 0)
  end
  emit(B, cap, "event", "waiting", "jobId", id, "prev", state)
end
rcall("ZREM", setKey, unpack(ids))
rcall("LPUSH", B .. "wait", unpack(ids))
wakeWorkers(B, isBlocked(B))
if #ids == count then return 1 end
return 0
