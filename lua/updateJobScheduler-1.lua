--[[
  updateJobScheduler: the worker's duty when it takes an iteration of scheduler `sid`: produce
  the next iteration (PROTOCOL.md §15.5), written for this project. Only the scheduler's current
  iteration produces: a retried or stalled re-run of an older one, or an iteration of a removed
  scheduler, produces nothing, so no iteration is doubled however often this is called.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  scheduler id
  ARGV[2]  next slot (ms) of a cron pattern, computed by the client; "" for `every`
  ARGV[3]  now (ms)
  ARGV[4]  id of the iteration being processed (the producer)
  ARGV[5]  next iteration's options JSON, stored form (its delay and jobId are set here)

  Returns the new iteration's id, or false when nothing was produced (scheduler removed, the
  producer is not the current iteration, or the next slot's job exists already: then a
  `duplicated` event names it, as BullMQ emits).
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local sid, now, producer = ARGV[1], tonumber(ARGV[3]), ARGV[4]
local zkey, skey = B .. "repeat", B .. "repeat:" .. sid

local prev = rcall("ZSCORE", zkey, sid)
if not prev then return false end
prev = tonumber(prev)
if producer ~= iterationId(sid, prev) then return false end

local h = rcall("HMGET", skey, "name", "data", "every", "startDate", "offset")
-- A scheduler whose hash is gone cannot name its jobs; listing drops such an entry.
if not h[1] then return false end
local opts = cjson.decode(ARGV[5])
local rep = type(opts["repeat"]) == "table" and opts["repeat"] or {}
local every = tonumber(h[3]) or tonumber(rep["every"])
local nextMs = tonumber(ARGV[2])
if every then
  nextMs = everyNext(prev, every, now, h[5] or rep["offset"] or 0, h[4])
end
if not nextMs then return false end

local id = iterationId(sid, nextMs)
if rcall("EXISTS", B .. id) == 1 then
  emit(B, eventsCap(B), "event", "duplicated", "jobId", id)
  return false
end
rcall("ZADD", zkey, nextMs, sid)
rcall("HINCRBY", skey, "ic", 1)
rcall("INCR", B .. "id")
storeIteration(B, sid, id, h[1], h[2], opts, now, nextMs)
return id
