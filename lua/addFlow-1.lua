--[[
  addFlow: add one or more flows (trees of jobs, children possibly in other queues of the same
  prefix) atomically (PROTOCOL.md §14.2), written for this project. Nodes come parent before
  children. A node with children waits in its queue's `waiting-children`; a leaf is added as any
  job. Every check that can refuse (a parent named by the root that does not exist, a custom id
  owned by another live parent) runs before anything is written, so a refused call leaves
  nothing. Parents are released at the end, once the whole tree is in place, when none of
  their children is pending (children that existed already, completed).

  KEYS[1]  queue base of the first root ("prefix:name:"; every other base is an argument)
  ARGV[1]  number of nodes n
  ARGV[2]  now (ms)
  ARGV[3 + 13*(i-1) ...]  per node, 13 fields:
    +0 queue base       +1 job id           +2 name             +3 timestamp (ms)
    +4 data JSON        +5 opts JSON        +6 delay ms         +7 priority
    +8 "1" if lifo      +9 dedup JSON or "" +10 parent key or "" +11 parent JSON or ""
    +12 "1" when the node has children

  Returns an array with one id per node (the dedup owner's when a leaf was deduplicated), or a
  single negative code: -5 (a parent outside the flow is missing) with the index of the node as
  second element, -7 (a custom id owned by another live parent) likewise.
  Events: per node as addJobs (added, then waiting | delayed | waiting-children), duplicated,
  deduplicated; waiting (prev = waiting-children) for a parent released at the end.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/add.lua"
--@include "includes/parent.lua"

local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local FIELDS, FIRST = 13, 3

local function node(i)
  local a = FIRST + (i - 1) * FIELDS
  return {
    B = ARGV[a], id = ARGV[a + 1], name = ARGV[a + 2], ts = tonumber(ARGV[a + 3]), data = ARGV[a + 4],
    opts = ARGV[a + 5], delay = tonumber(ARGV[a + 6]), priority = tonumber(ARGV[a + 7]),
    lifo = ARGV[a + 8] == "1", dedup = ARGV[a + 9], parentKey = ARGV[a + 10], parentJson = ARGV[a + 11],
    hasChildren = ARGV[a + 12] == "1",
  }
end

-- Checks first: nothing is written when one fails.
local inFlow = {}
for i = 1, n do
  local j = node(i)
  inFlow[j.B .. j.id] = true
  if j.parentKey ~= "" and not inFlow[j.parentKey] and rcall("EXISTS", j.parentKey) == 0 then
    return { -5, i }
  end
  if j.parentKey ~= "" and rcall("EXISTS", j.B .. j.id) == 1 then
    local current = rcall("HGET", j.B .. j.id, "parentKey")
    if current and current ~= j.parentKey and rcall("EXISTS", current) == 1 then return { -7, i } end
  end
end

local caps, blocks = {}, {}
local function capOf(B)
  if not caps[B] then caps[B] = eventsCap(B) end
  return caps[B]
end
local function blockedOf(B)
  if blocks[B] == nil then blocks[B] = isBlocked(B) end
  return blocks[B]
end

local out, parents = {}, {}
for i = 1, n do
  local j = node(i)
  local B, cap = j.B, capOf(j.B)
  rcall("INCR", B .. "id")
  local jobKey = B .. j.id
  if j.parentKey ~= "" then parents[j.parentKey] = j.parentJson end
  if rcall("EXISTS", jobKey) == 1 then
    out[i] = addDuplicate(B, cap, j.id, j.parentKey, j.parentJson, true)
  elseif j.hasChildren then
    local fields = { "name", j.name, "data", j.data, "opts", j.opts, "timestamp", j.ts, "delay", j.delay,
      "priority", j.priority }
    if j.parentKey ~= "" then
      fields[#fields + 1] = "parentKey"; fields[#fields + 1] = j.parentKey
      fields[#fields + 1] = "parent"; fields[#fields + 1] = j.parentJson
      rcall("SADD", j.parentKey .. ":dependencies", jobKey)
    end
    rcall("HSET", jobKey, unpack(fields))
    emit(B, false, "event", "added", "jobId", j.id, "name", j.name)
    rcall("ZADD", B .. "waiting-children", j.ts, j.id)
    emit(B, cap, "event", "waiting-children", "jobId", j.id)
    out[i] = j.id
  else
    local de = j.dedup ~= "" and cjson.decode(j.dedup) or nil
    local owner = de and deduplicate(B, cap, de, j.id, j.name, j.ts, j.data, j.opts, j.delay, j.parentKey,
      j.parentJson, "") or nil
    if owner then
      out[i] = owner
    else
      storeAndEnqueue(B, { id = j.id, name = j.name, data = j.data, opts = j.opts, ts = j.ts, delay = j.delay,
        priority = j.priority, lifo = j.lifo, parentKey = j.parentKey, parentJson = j.parentJson,
        deid = de and tostring(de.id) or nil }, cap, blockedOf(B), nil)
      out[i] = j.id
    end
  end
end

-- Parents whose children are all done already (duplicates of completed jobs) go on now.
for parentKey, parentJson in pairs(parents) do
  local pB, pid = splitJobKey(parentKey, parentJson)
  releaseParentIfDone(pB, pid, now, false)
end
return out
