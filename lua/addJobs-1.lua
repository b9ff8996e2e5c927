--[[
  addJobs: add one or many jobs atomically (standard, delayed or prioritized, with optional
  deduplication, custom id and parent link). One call for a whole bulk: Redis reads the queue's
  meta once and the client pays one round trip.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  number of jobs n
  ARGV[2]  "1": all or nothing (a bulk); "0": jobs are independent (adds of several callers
           coalesced into one call), a missing parent refuses only its own job
  ARGV[3 + 12*(i-1) ...]  per job, 12 fields:
    +0 custom id or ""        +1 name            +2 timestamp (ms)   +3 data JSON
    +4 opts JSON (stored)     +5 delay ms        +6 priority         +7 "1" if lifo
    +8 dedup JSON or ""       +9 parent key or "" +10 parent JSON or "" +11 scheduler id (rjk) or ""

  Returns an array with one entry per job: the job id (new, existing duplicate, or the dedup
  owner), or -5 (parent missing; in all-or-nothing mode nothing at all was written and the
  other entries are 0), or -7 (custom id owned by another live parent).

  Events: added, then waiting | delayed; duplicated; deduplicated; removed (debounce replace);
  delayed (reschedule).
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/add.lua"

local B = KEYS[1]
local n = tonumber(ARGV[1])
local atomic = ARGV[2] == "1"
local FIELDS = 12
local FIRST = 3

-- A missing parent refuses its job; in all-or-nothing mode, the whole call, before anything is
-- written.
local refused = {}
for i = 0, n - 1 do
  local pk = ARGV[FIRST + i * FIELDS + 9]
  if pk ~= "" and rcall("EXISTS", pk) == 0 then
    if atomic then
      local out = {}
      for j = 1, n do out[j] = 0 end
      out[i + 1] = -5
      return out
    end
    refused[i] = true
  end
end

-- The events cap and what blocks waking workers, in one read of meta.
local meta = rcall("HMGET", B .. "meta", "opts.maxLenEvents", "paused", "concurrency", "fair.group")
local cap = eventsCap(B, meta[1] or nil)
local blocked = blockedBy(B, meta[2], meta[3])
-- One INCRBY for the whole call: job i gets the value the i-th of n INCRs would have given.
-- A fair tenant's ids come from its group's counter: one worker runs jobs of every tenant,
-- and knows them by id (src/fair).
local lastCounter = rcall("INCRBY", (meta[4] or B) .. "id", n)
local batch = newBatch()

local out = {}
for i = 0, n - 1 do
  local a = FIRST + i * FIELDS
  local customId, name, ts, data, opts = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4]
  local delay, priority, lifo = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), ARGV[a + 7] == "1"
  local deJson, parentKey, parentJson, rjk = ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11]

  local counter = lastCounter - n + 1 + i
  local id = customId
  if id == "" then id = tostring(counter) end
  local jobKey = B .. id
  local result

  if refused[i] then
    result = -5
  elseif customId ~= "" and rcall("EXISTS", jobKey) == 1 then
    result = addDuplicate(B, cap, id, parentKey, parentJson, false)
  else
    local de = nil
    if deJson ~= "" then de = cjson.decode(deJson) end
    local owner = nil
    if de then owner = deduplicate(B, cap, de, id, name, ts, data, opts, delay, parentKey, parentJson, rjk) end
    if owner then
      result = owner
    else
      storeAndEnqueue(B, { id = id, name = name, data = data, opts = opts, ts = ts, delay = delay,
        priority = priority, lifo = lifo, parentKey = parentKey, parentJson = parentJson, rjk = rjk,
        deid = de and tostring(de.id) or nil }, cap, blocked, batch)
      result = id
    end
  end
  out[i + 1] = result
end
flushBatch(B, batch, blocked)
return out
