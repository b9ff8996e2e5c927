--[[
  pause: pause or resume a queue, 6.x style (PROTOCOL.md §12.10): pausing only sets the meta flag
  and deletes the marker (jobs stay in wait); resuming clears it, merges a legacy 5.x `paused`
  list into wait (7000 entries per call) and wakes workers.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  "paused" | "resumed"   ARGV[2] "1" to emit the event (the first call of a resume)

  Returns the number of legacy paused entries still to move (call again while > 0).
  Events: paused | resumed.
]]
--@include "includes/base.lua"

local B = KEYS[1]
if ARGV[1] == "paused" then
  rcall("HSET", B .. "meta", "paused", 1)
  rcall("DEL", B .. "marker")
  if ARGV[2] == "1" then emit(B, false, "event", "paused") end
  return 0
end

rcall("HDEL", B .. "meta", "paused")
local left = 0
local legacy, wait = B .. "paused", B .. "wait"
if rcall("EXISTS", legacy) == 1 then
  if rcall("EXISTS", wait) == 0 then
    rcall("RENAME", legacy, wait)
  else
    -- RPUSH keeps the legacy jobs ahead of those already waiting (they are older).
    local ids = rcall("LRANGE", legacy, 0, 6999)
    rcall("RPUSH", wait, unpack(ids))
    rcall("LTRIM", legacy, #ids, -1)
    left = rcall("LLEN", legacy)
  end
end
if rcall("LLEN", wait) + rcall("ZCARD", B .. "prioritized") > 0 then
  wakeWorkers(B, isBlocked(B))
else
  markNextDelayed(B)
end
if ARGV[2] == "1" then emit(B, false, "event", "resumed") end
return left
