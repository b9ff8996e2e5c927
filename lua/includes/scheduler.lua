--[[
  Recognising the current iteration of a job scheduler (PROTOCOL.md §15.7). Needs base.lua.
]]

-- The set of current iteration ids ("repeat:<scheduler>:<slot>").
local function currentIterations(B)
  local keep = {}
  local all = rcall("ZRANGE", B .. "repeat", 0, -1, "WITHSCORES")
  for i = 1, #all, 2 do
    keep["repeat:" .. all[i] .. ":" .. all[i + 1]] = true
  end
  return keep
end

-- True when `id` is the pending iteration of its scheduler.
local function isCurrentIteration(B, id)
  local rjk = rcall("HGET", B .. id, "rjk")
  if not rjk then return false end
  local slot = rcall("ZSCORE", B .. "repeat", rjk)
  return slot ~= false and id == "repeat:" .. rjk .. ":" .. slot
end

-- The job id of scheduler `sid`'s iteration at slot `ms`.
local function iterationId(sid, ms)
  return "repeat:" .. sid .. ":" .. int(ms)
end

-- The slot after `prev` of an `every` scheduler (PROTOCOL.md §15.3), and the offset of the slot
-- inside its interval. Without `prev` the first slot is the start date, the next offset-aligned
-- slot, or now; with it, `prev + every`, or when that has passed (a worker was away), the next
-- aligned slot after now: missed slots collapse into one, they are not replayed.
local function everyNext(prev, every, now, offset, startDate)
  offset = tonumber(offset)
  local nextMs
  if not prev then
    if startDate and startDate ~= "" then
      nextMs = math.max(tonumber(startDate), now)
    elseif offset and offset > 0 then
      nextMs = math.floor(now / every) * every + offset
      if nextMs <= now then nextMs = nextMs + every end
    else
      nextMs = now
    end
  else
    nextMs = prev + every
    if nextMs < now then
      local aligned = math.floor(now / every) * every + (offset or 0)
      if aligned <= now then nextMs = aligned + every else nextMs = aligned end
    end
  end
  if not offset or offset == 0 then
    offset = nextMs - math.floor(nextMs / every) * every
  end
  return math.floor(nextMs), math.floor(offset)
end

-- Remove iteration `id` if it has not started: delayed, prioritized, or in wait or paused (BullMQ
-- looks in `paused` only when the queue is paused, and so misses a pending iteration sitting in
-- `wait` of a paused 6.x queue; we look in both). Returns true when it was removed.
local function removePendingIteration(B, id)
  local removed = rcall("ZREM", B .. "delayed", id) == 1
    or rcall("ZREM", B .. "prioritized", id) == 1
    or rcall("LREM", B .. "wait", 1, id) > 0
    or rcall("LREM", B .. "paused", 1, id) > 0
  if removed then purgeJob(B, id, false, false) end
  return removed
end

-- Store iteration `id` of scheduler `sid`: the iteration options `opts` (a decoded table) get
-- their `delay` and `jobId` here, and the job goes to delayed or ready like any added job.
local function storeIteration(B, sid, id, name, data, opts, now, nextMs)
  local delay = math.max(0, nextMs - now)
  opts["delay"] = delay
  opts["jobId"] = id
  local deid = type(opts["de"]) == "table" and opts["de"]["id"] or nil
  storeAndEnqueue(B, { id = id, name = name, data = data or "{}", opts = cjson.encode(opts), ts = now,
    delay = delay, priority = tonumber(opts["priority"]) or 0, lifo = opts["lifo"] == true, rjk = sid,
    deid = deid and tostring(deid) or nil }, eventsCap(B), isBlocked(B), nil)
  return delay
end
