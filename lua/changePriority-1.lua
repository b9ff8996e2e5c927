--[[
  changePriority: set a job's priority; a waiting job is re-queued by it (PROTOCOL.md §12.14).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] new priority (0 = none)   ARGV[3] "1" for LIFO

  Returns 0, or -1 when the job does not exist. Events: none.
]]
--@include "includes/base.lua"

local B = KEYS[1]
local id, priority, lifo = ARGV[1], tonumber(ARGV[2]), ARGV[3] == "1"
local jobKey = B .. id
if rcall("EXISTS", jobKey) == 0 then return -1 end
local waiting = rcall("ZREM", B .. "prioritized", id) == 1 or rcall("LREM", B .. "wait", -1, id) > 0
if waiting then
  local blocked = isBlocked(B)
  if priority == 0 then
    pushWait(B, id, lifo and "RPUSH" or "LPUSH", blocked)
  elseif lifo then
    rcall("ZADD", B .. "prioritized", priority * 4294967296, id)
    wakeWorkers(B, blocked)
  else
    pushPrioritized(B, id, priority, blocked)
  end
end
rcall("HSET", jobKey, "priority", priority)
return 0
