--[[
  drain: remove every waiting job (wait, legacy paused, prioritized, and delayed when asked),
  except the pending iterations of job schedulers (PROTOCOL.md §12.11). Removal is "hard":
  a parent in the same queue whose last child goes is deleted too.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  "1" to drain delayed jobs too

  Returns the number of jobs removed. Events: none.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local keep = currentIterations(B)
local removed = 0

local function drainList(key)
  local ids = rcall("LRANGE", key, 0, -1)
  if #ids == 0 then return end
  local kept = {}
  for _, id in ipairs(ids) do
    if keep[id] then
      kept[#kept + 1] = id
    else
      purgeJob(B, id, true, false)
      removed = removed + 1
    end
  end
  rcall("DEL", key)
  for i = 1, #kept, 1000 do
    rcall("RPUSH", key, unpack(kept, i, math.min(i + 999, #kept)))
  end
end

local function drainZset(key)
  local ids = rcall("ZRANGE", key, 0, -1)
  local gone = {}
  for _, id in ipairs(ids) do
    if not keep[id] then
      purgeJob(B, id, true, false)
      gone[#gone + 1] = id
    end
  end
  for i = 1, #gone, 1000 do
    rcall("ZREM", key, unpack(gone, i, math.min(i + 999, #gone)))
  end
  removed = removed + #gone
end

drainList(B .. "wait")
drainList(B .. "paused")
drainZset(B .. "prioritized")
if ARGV[1] == "1" then drainZset(B .. "delayed") end
return removed
