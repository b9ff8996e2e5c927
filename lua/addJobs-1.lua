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

-- Then every job (includes/add.lua): one read of meta, one INCRBY for the ids (a fair tenant's
-- come from its group's counter), each job stored, deduplicated or a duplicate.
return addBatch(B, ARGV, FIRST, n, refused)
