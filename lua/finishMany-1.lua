--[[
  finishMany: moveToFinished for a batch of active jobs, then take up to `take` next jobs, in one
  call. Each job is finished exactly as moveToFinished finishes it (same checks, events and
  retention) and each take is a moveToActive; what is shared is done once per call: reading the
  events cap and trimming the stream, releasing the locks (one MGET, DEL and SREM for the
  batch), adding to the completed set when nothing trims it and deleting the keys of jobs
  removed on completion (one call each), reading pause/concurrency/limits, promoting due
  delayed jobs, setting the marker.
  Used by the worker tree to finish the jobs of many job actors that completed while the
  previous call was in flight.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  n, jobs to finish      ARGV[2] take, next jobs wanted (0..n)
  ARGV[3..8] fetch options: now, token prefix (take i is locked under "<prefix>:<i>"), lock
           duration, limiter max, limiter duration, worker name
  ARGV[9 + 11*(j-1) ..] per job j: id, target, value, keep count, keep age, keep limit,
           attempts, metrics max data points, stacktrace, lock token, atm + 1 as text when the
           job has no parent link and no deduplication id ("" otherwise: read from the hash)

  Returns { codes, taken, ttl, dueMs }: codes[j] is moveToFinished's code for job j (0 or
  negative); taken is a list of {flat hash, id, token}; ttl > 0 when the rate limiter stopped
  the takes; dueMs the next delayed job's due time when the queue ran dry (0: none).
  Events: those of moveToFinished per job and of moveToActive per take; drained once.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/lock.lua"
--@include "includes/fetch.lua"
--@include "includes/parent.lua"
--@include "includes/finish.lua"

local B = KEYS[1]
local n, take = tonumber(ARGV[1]), tonumber(ARGV[2])
local o = fetchOptions(3)
local cap = eventsCap(B)

-- The checks, then the lock release of every job that passed in three calls for the batch
-- (MGET, DEL, SREM) instead of three per job, then the rest per job in order.
local codes, jobs, lockKeys, passed = {}, {}, {}, {}
local jobKeys, childKeys = {}, {}
for j = 1, n do
  local i = 9 + (j - 1) * 11
  local a = finishArgs(i)
  a.token = ARGV[i + 9]
  if ARGV[i + 10] ~= "" then a.atm = ARGV[i + 10] end
  jobs[j] = a
  jobKeys[j] = B .. a.id
  if a.target == "completed" then
    childKeys[#childKeys + 1] = jobKeys[j] .. ":dependencies"
    childKeys[#childKeys + 1] = jobKeys[j] .. ":unsuccessful"
  end
end
-- The usual case in two calls: every job exists and none has children pending or failed (an
-- empty set or sorted set does not exist in Redis). Otherwise the checks run job by job.
local allClear = n > 0 and rcall("EXISTS", unpack(jobKeys)) == n
  and (#childKeys == 0 or rcall("EXISTS", unpack(childKeys)) == 0)
for j = 1, n do
  local a = jobs[j]
  codes[j] = allClear and 0 or finishChecks(B, a)
  if codes[j] == 0 then
    if a.token == "0" then
      codes[j] = -2 -- the worker tree always holds a lock
    else
      passed[#passed + 1] = j
      lockKeys[#lockKeys + 1] = B .. a.id .. ":lock"
    end
  end
end
if #passed > 0 then
  local holders = rcall("MGET", unpack(lockKeys))
  local released, releasedIds = {}, {}
  for x, j in ipairs(passed) do
    local holder = holders[x]
    if holder == jobs[j].token then
      released[#released + 1] = lockKeys[x]
      releasedIds[#releasedIds + 1] = jobs[j].id
    elseif holder then
      codes[j] = -6
    else
      codes[j] = -2
    end
  end
  if #released > 0 then
    rcall("DEL", unpack(released))
    rcall("SREM", B .. "stalled", unpack(releasedIds))
  end
  local batch = { zadd = {}, del = {} }
  for _, j in ipairs(passed) do
    if codes[j] == 0 then codes[j] = finishReleased(B, jobs[j], o.now, cap, o.nowText, batch) end
  end
  finishBatchWrites(batch)
end
rcall("XTRIM", B .. "events", "MAXLEN", "~", cap)

local taken, ttl, due = {}, 0, 0
if take > 0 then
  fetchPrepare(B, o)
  for t = 1, take do
    local token = o.token .. ":" .. t
    local reply = fetchOne(B, o, token)
    if reply[1] == 0 then
      ttl, due = reply[3], reply[4]
      break
    end
    taken[#taken + 1] = { reply[1], reply[2], token }
  end
  if #taken > 0 then rcall("ZADD", B .. "marker", "0", "0") end
end
if #taken == 0 and ttl == 0 and not o.blocked and rcall("LLEN", B .. "wait") == 0
    and rcall("LLEN", B .. "active") == 0 and rcall("ZCARD", B .. "prioritized") == 0 then
  emit(B, false, "event", "drained")
end
return { codes, taken, ttl, due }
