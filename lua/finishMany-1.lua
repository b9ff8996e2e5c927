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
  ARGV[1]  n, jobs to complete    ARGV[2] take, next jobs wanted (0..n)
  ARGV[3..9] fetch options: now, token prefix (take i is locked under "<prefix>:<i>"), lock
           duration, limiter max, limiter duration, worker name, fair group ("": none)
  ARGV[10] p, the number of retention profiles, then p profiles of 5: keep count, keep age,
           keep limit, attempts, metrics max data points (what jobs of a batch mostly share,
           sent once: every argument costs Redis a Lua string)
  then nb, the number of queue bases listed, then nb bases: 0 for a plain worker (every job is
           KEYS[1]'s); a fair group's worker (KEYS[1] its group's home) lists the tenant queues
           of the batch, and each job names its own by number (a 7th field)
  then per job j, 6 each (7 with bases): id, return value, lock token, atm + 1 as text when the job has no
           parent link and no deduplication id ("" otherwise: read from the hash), profile
           number (1..p), the time the job finished (ms since the epoch, with a sub-ms fraction:
           the score in the completed set; its whole ms are the hash's finishedOn). A batch's
           jobs finished at different instants: one time for all would tie their scores, and
           ties sort by id as text, so dashboards would list them out of order.

  Every job of the batch completes (failures go through moveToFinished one by one).
  Returns one array { ttl, dueMs, codes, hash 1, id 1, hash 2, id 2, ... }, packed with
  cmsgpack into one string: codes[j] is moveToFinished's code for job j (0 or negative); take i
  is locked under "<token prefix>:<i>"; ttl > 0 when the rate limiter stopped the takes; dueMs
  the next delayed job's due time when the queue ran dry (0: none). (Packed: Redis converts a
  reply of nested tables to RESP element by element, a handful of lookups each, and a batch's
  hashes hold about twenty strings per job; flat: the packer checks each table it meets.)
  Events: those of moveToFinished per job and of moveToActive per take; drained once, when
  wait, prioritized, active and delayed are all empty (a fair group's take emits a tenant
  queue's drained, see includes/fair.lua) (BullMQ's finish writes no `drained`
  while a delayed job is pending: its fetch of the next job answers with the due time).
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
local n, take = tonumber(ARGV[1]), tonumber(ARGV[2])
local o = fetchOptions(3)
-- A call that takes reads the fetch's meta fields with the events cap, in one HMGET: nothing a
-- finish does changes them.
local meta = take > 0 and not o.fair
  and rcall("HMGET", B .. "meta", "opts.maxLenEvents", "fair.group", "fair.tenant", unpack(FETCH_META)) or nil
if meta then fairHintSet(B, meta[2], meta[3]) end

-- The checks, then the lock release of every job that passed in three calls for the batch
-- (MGET, DEL, SREM) instead of three per job, then the rest per job in order.
local codes, jobs, lockKeys, passed = {}, {}, {}, {}
local jobKeys, childKeys = {}, {}
local profiles, np = {}, tonumber(ARGV[10])
for p = 1, np do
  local i = 11 + (p - 1) * 5
  -- Keyed by the number as sent, so each job finds its profile without a tonumber.
  profiles[tostring(p)] = { keepCount = tonumber(ARGV[i]), keepAge = tonumber(ARGV[i + 1]),
    keepLimit = tonumber(ARGV[i + 2]) or 1000, attempts = tonumber(ARGV[i + 3]) or 0,
    maxMetrics = tonumber(ARGV[i + 4]) }
end
-- The queues of the batch: B alone, or (a fair group's worker, whose KEYS[1] is the group's
-- home) the tenant queues listed here, each job naming its own by number.
local nb = tonumber(ARGV[11 + np * 5])
local bases, caps, fields = { B }, {}, 6
if nb > 0 then
  fields = 7
  for k = 1, nb do bases[k] = ARGV[11 + np * 5 + k] end
end
for _, b in ipairs(bases) do caps[b] = eventsCap(b, b == B and meta and meta[1] or nil) end
local first = 12 + np * 5 + nb
for j = 1, n do
  local i = first + (j - 1) * fields
  local pr = profiles[ARGV[i + 4]]
  local atm = ARGV[i + 3]
  local id = ARGV[i]
  local JB = nb > 0 and bases[tonumber(ARGV[i + 6])] or B
  local jobKey = JB .. id
  local a = { id = id, base = JB, jobKey = jobKey, target = "completed", value = ARGV[i + 1], token = ARGV[i + 2],
    atm = atm ~= "" and atm or nil, keepCount = pr.keepCount, keepAge = pr.keepAge,
    keepLimit = pr.keepLimit, attempts = pr.attempts, maxMetrics = pr.maxMetrics, stacktrace = "",
    finishedAt = ARGV[i + 5], finishedOn = string.match(ARGV[i + 5], "^%d+") }
  jobs[j] = a
  jobKeys[j] = jobKey
  childKeys[#childKeys + 1] = jobKey .. ":dependencies"
  childKeys[#childKeys + 1] = jobKey .. ":unsuccessful"
end
-- The usual case in two calls: every job exists and none has children pending or failed (an
-- empty set or sorted set does not exist in Redis). Otherwise the checks run job by job.
local allClear = n > 0 and rcall("EXISTS", unpack(jobKeys)) == n
  and (#childKeys == 0 or rcall("EXISTS", unpack(childKeys)) == 0)
for j = 1, n do
  local a = jobs[j]
  codes[j] = allClear and 0 or finishChecks(a.base, a, a.token)
  if codes[j] == 0 then
    if a.token == "0" then
      codes[j] = -2 -- the worker tree always holds a lock
    else
      passed[#passed + 1] = j
      lockKeys[#lockKeys + 1] = a.jobKey .. ":lock"
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
      local b = jobs[j].base
      releasedIds[b] = releasedIds[b] or {}
      releasedIds[b][#releasedIds[b] + 1] = jobs[j].id
    elseif holder then
      codes[j] = -6
    else
      codes[j] = -2
    end
  end
  if #released > 0 then
    rcall("DEL", unpack(released))
    for b, ids in pairs(releasedIds) do rcall("SREM", b .. "stalled", unpack(ids)) end
  end
  local batch = { zadd = {}, del = {}, noChildren = allClear }
  for _, j in ipairs(passed) do
    local a = jobs[j]
    if codes[j] == 0 then codes[j] = finishReleased(a.base, a, o.now, caps[a.base], o.nowText, batch) end
  end
  finishBatchWrites(batch)
end
-- A fair group's batch looks for capped tenants only when the group has any.
local anyCapped = nb > 0 and o.fair and rcall("EXISTS", o.fair.group .. "capped") == 1
for _, b in ipairs(bases) do
  rcall("XTRIM", b .. "events", "MAXLEN", "~", caps[b])
  if anyCapped then fairFreedIn(o.fair, b) end
end

local out, ttl, due = { 0, 0, codes }, 0, 0
local took = 0
if take > 0 and o.fair then
  -- A worker of a fair group takes from the tenants its group's index points at.
  took, due = fairTakeMany(o, take, out, 3)
elseif take > 0 then
  fetchPrepare(B, o, meta, 3)
  if take > 1 and canTakeMany(o) then
    took = fetchMany(B, o, take, out, 3)
    if took == 0 then due = nextDue(B, o) end
  else
    for t = 1, take do
      local reply = fetchOne(B, o, o.token .. ":" .. intText(t))
      if reply[1] == 0 then
        ttl, due = reply[3], reply[4]
        break
      end
      took = took + 1
      out[2 + 2 * took] = reply[1]
      out[3 + 2 * took] = reply[2]
    end
  end
  -- Fewer than asked for: nothing is left for another worker. As many: most likely more are
  -- waiting (a batch takes while it keeps up), so the marker is set without looking.
  if took > 0 and took == take then wakeWorkers(B, false) end
end
out[1], out[2] = ttl, due
-- A take of this call that found wait and prioritized empty (`o.dry`) spares looking again, and
-- one that ran dry knows the next delayed due time (`due`).
if nb == 0 and not o.fair and took == 0 and ttl == 0 and not o.blocked
    and (o.dry or not hasReady(B))
    and rcall("LLEN", B .. "active") == 0
    and (take > 0 and due == 0 or take == 0 and rcall("ZCARD", B .. "delayed") == 0) then
  emit(B, false, "event", "drained")
end
fairHintClear()
return cmsgpack.pack(out)
