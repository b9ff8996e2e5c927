--[[
  changeDelay: re-schedule a delayed job to now + delay (PROTOCOL.md §12.15).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] delay (ms)   ARGV[3] now (ms)

  Returns 0, -1 (no job) or -3 (not delayed). Events: delayed (absolute due ms).
]]
--@include "includes/base.lua"

local B = KEYS[1]
local id, delay, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if rcall("EXISTS", B .. id) == 0 then return -1 end
if rcall("ZREM", B .. "delayed", id) == 0 then return -3 end
rcall("HSET", B .. id, "delay", delay)
scheduleDelayed(B, id, now + delay, eventsCap(B))
return 0
