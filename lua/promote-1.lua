--[[
  promote: make a delayed job ready now (PROTOCOL.md §12.9).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id

  Returns 0, or -3 when the job is not delayed. Events: waiting (prev=delayed).
]]
--@include "includes/base.lua"

local B = KEYS[1]
local id = ARGV[1]
if rcall("ZREM", B .. "delayed", id) == 0 then return -3 end
local priority = tonumber(rcall("HGET", B .. id, "priority")) or 0
pushReady(B, id, priority, "LPUSH", isBlocked(B))
emit(B, false, "event", "waiting", "jobId", id, "prev", "delayed")
rcall("HSET", B .. id, "delay", 0)
return 0
