--[[
  cleanJobsInSet: remove the jobs of one state older than a cutoff (PROTOCOL.md §12.18). Removal
  is "hard" (job keys, dedup ownership, parent link).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  state: completed | failed | delayed | prioritized | wait | paused | active |
           waiting-children
  ARGV[2]  cutoff ms (jobs at or before it go)   ARGV[3] max jobs removed (0 = no limit)

  Returns the removed ids. Events: cleaned (count), once per call.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local state, cutoff, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local key = B .. state
local removed = {}

-- Age of a job for cleaning: the first of these fields that is set.
local function oldEnough(id, fields)
  local v = rcall("HMGET", B .. id, unpack(fields))
  for i = 1, #fields do
    if v[i] then return tonumber(v[i]) <= cutoff end
  end
  return true
end

local function full() return limit > 0 and #removed >= limit end

if state == "active" or state == "wait" or state == "paused" then
  local ids
  if limit > 0 then ids = rcall("LRANGE", key, -limit, -1) else ids = rcall("LRANGE", key, 0, -1) end
  for i = #ids, 1, -1 do
    local id = ids[i]
    if full() then break end
    local free = state ~= "active" or rcall("EXISTS", B .. id .. ":lock") == 0
    if free and not isCurrentIteration(B, id) and oldEnough(id, { "finishedOn", "processedOn", "timestamp" }) then
      rcall("LREM", key, -1, id)
      purgeJob(B, id, true, false)
      removed[#removed + 1] = id
    end
  end
elseif state == "delayed" or state == "prioritized" then
  local fields = state == "delayed" and { "processedOn", "timestamp" } or { "timestamp" }
  for _, id in ipairs(rcall("ZRANGE", key, 0, -1)) do
    if full() then break end
    if not isCurrentIteration(B, id) and oldEnough(id, fields) then
      rcall("ZREM", key, id)
      purgeJob(B, id, true, false)
      removed[#removed + 1] = id
    end
  end
else
  -- completed, failed (scored by finishedOn) and waiting-children (scored by entry time).
  local ids
  if limit > 0 then
    ids = rcall("ZRANGEBYSCORE", key, 0, cutoff, "LIMIT", 0, limit)
  else
    ids = rcall("ZRANGEBYSCORE", key, 0, cutoff)
  end
  for _, id in ipairs(ids) do
    rcall("ZREM", key, id)
    purgeJob(B, id, true, false)
    removed[#removed + 1] = id
  end
end
emit(B, false, "event", "cleaned", "count", #removed)
return removed
