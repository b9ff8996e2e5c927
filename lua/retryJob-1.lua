--[[
  retryJob: an active job that failed goes straight back to waiting (retry without backoff)
  (PROTOCOL.md §12.5).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] now   ARGV[3] token   ARGV[4] "LPUSH" or "RPUSH" (lifo)
  ARGV[5]  failed reason to store or ""   ARGV[6] stacktrace JSON to store or ""

  Returns 0, or -1, -2, -3, -6.
  Events: waiting (prev=delayed) for promoted jobs, waiting (prev=active).
]]
--@include "includes/base.lua"
--@include "includes/lock.lua"
--@include "includes/fetch.lua"
--@include "includes/fair.lua"

local B = KEYS[1]
local id, now, token, pushCmd = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local jobKey = B .. id

promoteDue(B, now, isBlocked(B))
if rcall("EXISTS", jobKey) == 0 then return -1 end
local released = releaseLock(B, id, token)
if released < 0 then return released end
if ARGV[5] ~= "" then rcall("HSET", jobKey, "failedReason", ARGV[5]) end
if ARGV[6] ~= "" then rcall("HSET", jobKey, "stacktrace", ARGV[6]) end
if rcall("LREM", B .. "active", -1, id) == 0 then return -3 end
local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
pushReady(B, id, priority, pushCmd, isBlocked(B))
rcall("HINCRBY", jobKey, "atm", 1)
emit(B, eventsCap(B), "event", "waiting", "jobId", id, "prev", "active")
return 0
