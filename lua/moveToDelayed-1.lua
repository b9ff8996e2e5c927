--[[
  moveToDelayed: an active job waits until a later time (a retry with backoff, or the processor
  asking for a delay) (PROTOCOL.md §12.4).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] delay in ms from now   ARGV[3] "1" = do not count an attempt
  ARGV[4]  failed reason to store or ""   ARGV[5] stacktrace JSON to store or ""
  ARGV[6]  "1" to fetch the next job
  ARGV[7..12] fetch options: now, token, lock duration, limiter max, limiter duration, name

  Returns 0, a fetch reply with a job (see moveToActive), or -1, -2, -3, -6.
  Events: delayed (delay = absolute due ms), plus fetch-next's.
]]
--@include "includes/base.lua"
--@include "includes/lock.lua"
--@include "includes/fetch.lua"
--@include "includes/fair.lua"

local B = KEYS[1]
local id, delay, skipAttempt = ARGV[1], tonumber(ARGV[2]), ARGV[3] == "1"
local reason, stacktrace, fetch = ARGV[4], ARGV[5], ARGV[6] == "1"
local o = fetchOptions(7)
local jobKey = B .. id

if rcall("EXISTS", jobKey) == 0 then return dropGone(B, id, o.token) end
local released = releaseLock(B, id, o.token)
if released < 0 then return released end
if reason ~= "" then rcall("HSET", jobKey, "failedReason", reason) end
if stacktrace ~= "" then rcall("HSET", jobKey, "stacktrace", stacktrace) end
if rcall("LREM", B .. "active", -1, id) == 0 then return -3 end
if not skipAttempt then rcall("HINCRBY", jobKey, "atm", 1) end
rcall("HSET", jobKey, "delay", delay)
local due = o.now + delay
rcall("ZADD", B .. "delayed", delayedScore(B, due), id)
emit(B, eventsCap(B), "event", "delayed", "jobId", id, "delay", due)
markNextDelayed(B)
if o.fair then fairFreedIn(o.fair, B) end
if fetch then
  local reply = fetchNext(B, o)
  if reply[1] ~= 0 then return reply end
end
return 0
