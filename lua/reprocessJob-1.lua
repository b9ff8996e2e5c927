--[[
  reprocessJob: re-run one failed or completed job (`Job.retry`, PROTOCOL.md §12.20), 6.7 style:
  a prioritized job goes back to prioritized.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] state it must be in: failed | completed
  ARGV[3]  "1" to reset attempts made   ARGV[4] "1" to reset attempts started
  ARGV[5]  "1" for LIFO

  Returns 1, -1 (no job) or -3 (not in that state). Events: waiting (prev=<state>).
]]
--@include "includes/base.lua"
--@include "includes/rerun.lua"

local B = KEYS[1]
local id, state = ARGV[1], ARGV[2]
local jobKey = B .. id
if rcall("EXISTS", jobKey) == 0 then return -1 end
if rcall("ZREM", B .. state, id) == 0 then return -3 end
rcall("HDEL", jobKey, "finishedOn", "processedOn", state == "completed" and "returnvalue" or "failedReason")
if ARGV[3] == "1" then rcall("HDEL", jobKey, "atm", "attemptsMade") end
if ARGV[4] == "1" then rcall("HDEL", jobKey, "ats") end
local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
pushReady(B, id, priority, ARGV[5] == "1" and "RPUSH" or "LPUSH", isBlocked(B))
reattachToParent(jobKey, state)
emit(B, eventsCap(B), "event", "waiting", "jobId", id, "prev", state)
return 1
