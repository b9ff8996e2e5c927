--[[
  moveToFinished: complete or finally fail an active job (PROTOCOL.md §12.3), and optionally hand
  the worker its next job in the same call.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id              ARGV[2]  target: "completed" | "failed"
  ARGV[3]  value: return value JSON (completed) or failed reason (failed)
  ARGV[4]  "1" to fetch the next job
  ARGV[5]  keep count (-1 keep all, 0 delete, n keep newest n)
  ARGV[6]  keep age in seconds or ""   ARGV[7] max removed per finish or "" (1000)
  ARGV[8]  attempts (opts.attempts)   ARGV[9] metrics max data points or "" (off)
  ARGV[10] stacktrace JSON to store, or ""
  ARGV[11..16] fetch options: now, token, lock duration, limiter max, limiter duration, name
           (the token is also the one the finished job's lock must match)

  Returns 0, a fetch reply {hash, id, ttl, delayUntil} (see moveToActive), or -1 (no job),
  -2 (no lock), -3 (not active), -4 (pending children), -6 (lock held by another), -9 (failed
  children).
  Events: completed | failed (prev=active), retries-exhausted, drained (when wait, active,
  prioritized and delayed are empty); and those of parent
  release, dedup re-queue and fetch-next.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/lock.lua"
--@include "includes/fetch.lua"
--@include "includes/fair.lua"
--@include "includes/parent.lua"
--@include "includes/finish.lua"

local B = KEYS[1]
local a = {
  id = ARGV[1], target = ARGV[2], value = ARGV[3], keepCount = tonumber(ARGV[5]), keepAge = tonumber(ARGV[6]),
  keepLimit = tonumber(ARGV[7]) or 1000, attempts = tonumber(ARGV[8]) or 0, maxMetrics = tonumber(ARGV[9]),
  stacktrace = ARGV[10],
}
local fetch = ARGV[4] == "1"
local o = fetchOptions(11)

local cap = eventsCap(B)
local r = finishJob(B, a, o.token, o.now, cap, o.nowText)
if r ~= 0 then return r end
rcall("XTRIM", B .. "events", "MAXLEN", "~", cap)
if o.fair then fairFreedIn(o.fair, B) end

if fetch then
  local reply = fetchNext(B, o)
  if reply[1] ~= 0 or reply[3] > 0 or reply[4] > 0 or o.blocked then return reply end
end
-- No `drained` while a delayed job is pending: BullMQ's fetch of the next job answers with its
-- due time then, and the script returns before writing one.
if rcall("LLEN", B .. "wait") == 0 and rcall("LLEN", B .. "active") == 0
    and rcall("ZCARD", B .. "prioritized") == 0 and rcall("ZCARD", B .. "delayed") == 0 then
  emit(B, false, "event", "drained")
end
return 0
