--[[
  moveJobFromActiveToWait: the processor hit a rate limit; the job goes back to the front of the
  line without counting an attempt (PROTOCOL.md §12.6).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] token

  Returns the limiter's remaining ms (0 when none), or -1, -2, -6.
  Events: waiting (prev=active).
]]
--@include "includes/base.lua"
--@include "includes/lock.lua"

local B = KEYS[1]
local id, token = ARGV[1], ARGV[2]
local jobKey = B .. id

if rcall("EXISTS", jobKey) == 0 then return dropGone(B, id, token) end
local released = releaseLock(B, id, token)
if released < 0 then return released end
if rcall("LREM", B .. "active", 1, id) == 1 then
  local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
  if priority > 0 then
    -- Front of its priority band, and no wake-up: the limiter is what holds it back.
    rcall("ZADD", B .. "prioritized", priority * 4294967296, id)
  else
    pushWait(B, id, "RPUSH", isBlocked(B))
  end
  emit(B, eventsCap(B), "event", "waiting", "jobId", id, "prev", "active")
end
local ttl = rcall("PTTL", B .. "limiter")
if ttl > 0 then return ttl end
return 0
