--[[
  Promotion of due delayed jobs and "fetch next" (PROTOCOL.md §8.3, §12.2). Shared by the
  fetch, finish, delay and retry scripts. Needs includes/base.lua.
]]

-- The score of the first delayed job (due ms * 4096 + sequence), false when there is none.
local function firstDelayedScore(B)
  local first = rcall("ZRANGE", B .. "delayed", 0, 0, "WITHSCORES")
  return first[2] and tonumber(first[2])
end

-- Move up to 1000 delayed jobs whose due time is <= now to wait or prioritized. Returns the next
-- delayed job's due time in ms (0: none) when nothing was due, so that a fetch which then finds
-- nothing does not look again (nextDue); nil after promoting. One look at the first delayed job
-- decides: a score is due when it is below (now + 1) * 4096, the bound ZRANGEBYSCORE used.
local function promoteDue(B, now, blocked)
  local score = firstDelayedScore(B)
  if not score then return 0 end
  if score >= (now + 1) * 4096 then return math.floor(score / 4096) end
  local ids = rcall("ZRANGEBYSCORE", B .. "delayed", "0", int((now + 1) * 4096 - 1), "LIMIT", "0", "1000")
  if #ids == 0 then return nil end
  rcall("ZREM", B .. "delayed", unpack(ids))
  for _, id in ipairs(ids) do
    local jobKey = B .. id
    local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
    if priority > 0 then
      local seq = rcall("INCR", B .. "pc") % 4294967296
      rcall("ZADD", B .. "prioritized", priority * 4294967296 + seq, id)
    else
      rcall("LPUSH", B .. "wait", id)
    end
    rcall("HSET", jobKey, "delay", 0)
    emit(B, false, "event", "waiting", "jobId", id, "prev", "delayed")
  end
  wakeWorkers(B, blocked)
  return nil
end

-- Sets field `k` of a flat HGETALL reply `h` to `v`: at index `at` when it was there, else appended.
local function putField(h, at, k, v)
  if at then
    h[at] = v
  else
    h[#h + 1] = k
    h[#h + 1] = v
  end
end

-- Marks a job taken (processedOn, ats + 1, pb) and returns its hash as it is after that. The hash
-- is read first and the changed fields are patched into the reply, so one HSET counts `ats` too
-- (HINCRBY + HSET + HGETALL was one call more per job). Returns nil, writing nothing, when the
-- hash is no job's: gone, or without the name and data every add writes.
local function takeHash(jobKey, o)
  local h = rcall("HGETALL", jobKey)
  local ats, atsAt, onAt, pbAt = 0, nil, nil, nil
  local named, hasData, parent = false, false, false
  for i = 1, #h, 2 do
    local k = h[i]
    if k == "name" then
      named = true
    elseif k == "data" then
      hasData = true
    elseif k == "ats" then
      atsAt = i + 1
      ats = tonumber(h[i + 1]) or 0
    elseif k == "processedOn" then
      onAt = i + 1
    elseif k == "pb" then
      pbAt = i + 1
    elseif k == "cv" then
      parent = true
    end
  end
  if not (named and hasData) then return nil end
  if parent then
    -- A parent released by its children: their values, as a JSON object of value texts.
    local processed = rcall("HGETALL", jobKey .. ":processed")
    local values = {}
    for i = 1, #processed, 2 do values[processed[i]] = processed[i + 1] end
    h[#h + 1] = "cv"
    h[#h + 1] = #processed > 0 and cjson.encode(values) or "{}"
  end
  local atsText = intText(ats + 1)
  putField(h, onAt, "processedOn", o.nowText)
  putField(h, atsAt, "ats", atsText)
  if o.name and o.name ~= "" then
    putField(h, pbAt, "pb", o.name)
    rcall("HSET", jobKey, "processedOn", o.nowText, "ats", atsText, "pb", o.name)
  else
    rcall("HSET", jobKey, "processedOn", o.nowText, "ats", atsText)
  end
  return h
end

-- The meta fields fetchPrepare reads, in its order; a caller that reads meta anyway may ask for
-- them in the same HMGET (after its own fields) and pass the reply and their offset.
local FETCH_META = { "paused", "concurrency", "max", "duration" }

-- Reads what every fetch of one call shares into `o`: pause, global concurrency and the rate
-- limits; promotes due delayed jobs. Sets `o.blocked` when the queue is paused or maxed. `read`
-- and `at`: FETCH_META already read (read[at + 1..at + 4]).
local function fetchPrepare(B, o, read, at)
  local meta, k = read, at
  if not read then meta, k = rcall("HMGET", B .. "meta", unpack(FETCH_META)), 0 end
  o.concurrency = tonumber(meta[k + 2])
  local blocked = meta[k + 1] ~= false
  if not blocked and o.concurrency then
    blocked = rcall("LLEN", B .. "active") >= o.concurrency
  end
  o.blocked = blocked
  o.due = promoteDue(B, o.now, blocked)
  -- The queue's global max wins over the worker's; the worker's window wins over the queue's.
  o.maxJobs = tonumber(meta[k + 3]) or o.limMax
  o.window = o.limDuration or tonumber(meta[k + 4])
end

-- The next delayed job's due time in ms, 0 when there is none; known already when fetchPrepare
-- promoted nothing (`o.due`).
local function nextDue(B, o)
  if o.due then return o.due end
  local score = firstDelayedScore(B)
  return score and math.floor(score / 4096) or 0
end

-- A pre-v5 marker ("0:...") left in wait, to drop on the way (compared by byte: no substring).
local function legacyMarker(id)
  return string.byte(id, 1) == 48 and string.byte(id, 2) == 58
end

-- What every take does once its id is in active: the hash stamped and read (takeHash), the lock
-- (unless `token` is "0") and the `active` event. An id whose job is gone (a hash deleted while
-- the job waited or ran, or one holding no name and data) is a ghost: it leaves active, with any
-- lock and stalled mark, nothing is written for it, and the reply's hash is empty (a job's never
-- is) for the worker to report it and take again.
local function activate(B, o, id, token)
  local jobKey = B .. id
  local h = takeHash(jobKey, o)
  if not h then
    rcall("LREM", B .. "active", 1, id)
    rcall("DEL", jobKey .. ":lock")
    rcall("SREM", B .. "stalled", id)
    return {}
  end
  if token ~= "0" then
    rcall("SET", jobKey .. ":lock", token, "PX", o.lockText)
  end
  emit(B, false, "event", "active", "jobId", id, "prev", "waiting")
  return h
end

-- Takes one job under `token` (after fetchPrepare). Replies {hash, id, 0, 0} with a job,
-- {0, 0, ttl, 0} when rate limited, {0, 0, 0, dueMs} with the next delayed due time (0: none).
-- The caller sets the marker once a job was taken.
local function fetchOne(B, o, token)
  local limiterKey = B .. "limiter"
  if o.maxJobs then
    local used = tonumber(rcall("GET", limiterKey))
    if used and used >= o.maxJobs then
      local ttl = rcall("PTTL", limiterKey)
      if ttl > 0 then return { 0, 0, ttl, 0 } end
      rcall("DEL", limiterKey)
    end
  end
  if o.blocked then return { 0, 0, 0, 0 } end
  -- A later take of the same call re-checks the global concurrency the earlier ones used up.
  if o.taken and o.concurrency and rcall("LLEN", B .. "active") >= o.concurrency then
    o.blocked = true
    return { 0, 0, 0, 0 }
  end

  local id = rcall("RPOPLPUSH", B .. "wait", B .. "active")
  while id and legacyMarker(id) do
    rcall("LREM", B .. "active", 1, id)
    id = rcall("RPOPLPUSH", B .. "wait", B .. "active")
  end
  if not id then
    local top = rcall("ZPOPMIN", B .. "prioritized")
    if top[1] then
      id = top[1]
      rcall("LPUSH", B .. "active", id)
    else
      rcall("DEL", B .. "pc")
      o.dry = true
    end
  end

  if id then
    o.taken = true
    if o.maxJobs and o.window and rcall("HEXISTS", B .. id, "defa") == 0 then
      if rcall("INCR", limiterKey) == 1 then
        rcall("PEXPIRE", limiterKey, math.floor(math.abs(o.window)))
      end
    end
    return { activate(B, o, id, token), id, 0, 0 }
  end

  return { 0, 0, 0, nextDue(B, o) }
end

-- Takes up to `want` jobs at once (after fetchPrepare) and appends each as hash, id to `out`
-- from index `at`; returns how many it took. Same effects, in the same order, as `want`
-- fetchOne calls, but the ids leave wait in one RPOP and reach active in one LPUSH (one
-- RPOPLPUSH each was a Redis call per job). Only where no check runs between two takes:
-- `canTakeMany`.
local function fetchMany(B, o, want, out, at)
  local waitKey, activeKey = B .. "wait", B .. "active"
  local ids, need = {}, want
  while need > 0 do
    local got = rcall("RPOP", waitKey, need)
    if not got then break end
    for i = 1, #got do
      if not legacyMarker(got[i]) then ids[#ids + 1] = got[i] end
    end
    if #got < need then break end
    need = want - #ids
  end
  local fromWait = #ids
  if fromWait > 0 then rcall("LPUSH", activeKey, unpack(ids)) end
  if fromWait < want then
    local top = rcall("ZPOPMIN", B .. "prioritized", want - fromWait)
    for i = 1, #top, 2 do ids[#ids + 1] = top[i] end
    if #ids > fromWait then rcall("LPUSH", activeKey, unpack(ids, fromWait + 1)) end
    -- fetchOne deletes the sequence counter when it finds prioritized empty.
    if #top < 2 * (want - fromWait) then rcall("DEL", B .. "pc") end
  end
  local first = o.tokenOffset or 0
  for t = 1, #ids do
    out[at + 2 * t - 1] = activate(B, o, ids[t], o.token .. ":" .. intText(first + t))
    out[at + 2 * t] = ids[t]
  end
  if #ids > 0 then o.taken = true else o.dry = true end
  return #ids
end

-- Whether fetchMany may take several jobs: nothing to check between two takes (no rate limit,
-- no global concurrency, not blocked) and a Redis with RPOP's count (6.2; REDIS_VERSION_NUM
-- is there from 7.0, so 6.2 takes one by one).
local function canTakeMany(o)
  return not o.blocked and not o.maxJobs and not o.concurrency and (redis.REDIS_VERSION_NUM or 0) >= 0x060200
end

-- After a take: wakes the other idle workers when a job is still ready for them. Node sets the
-- "0" marker after every take; when wait and prioritized are empty that only makes every
-- blocked worker (and this one) run an empty fetch, so here it is set only when one is left.
-- (The marker is level-triggered, PROTOCOL.md §9: every enqueue sets it again.)
local function wakeIfMore(B)
  wakeWorkers(B, not hasReady(B))
end

-- The fair take across a group's tenant queues (includes/fair.lua, which sets it): a worker
-- of a fair group (`o.fair`) takes from the tenants its index points at, not from `B`.
local fairNext

-- Take the next job for a worker. `o` holds now, token, lockDuration and the worker's optional
-- limiter (limMax, limDuration) and name; replies as fetchOne.
local function fetchNext(B, o)
  if o.fair then return fairNext(o) end
  fetchPrepare(B, o)
  local reply = fetchOne(B, o, o.token)
  if reply[1] ~= 0 then wakeIfMore(B) end
  return reply
end

-- A fair group's take option: "<group base>\n<tenant queue base prefix>\n<jobs per visit>\n
-- <tenant cap, 0: none>", or nil for "" (a plain worker).
local function fairOption(text)
  if not text or text == "" then return nil end
  local g, t, q, c = string.match(text, "^([^\n]+)\n([^\n]+)\n(%d+)\n(%d+)$")
  if not g then error("bad fair option") end
  local cap = tonumber(c)
  return { group = g, tenants = t, quantum = tonumber(q), cap = cap > 0 and cap or nil }
end

-- Reads the worker's fetch options from ARGV starting at index `i`:
-- now ("": the server's clock), token, lockDuration, limMax ("" = none), limDuration
-- ("" = none), name, fair ("" = a plain worker; see fairOption).
local function fetchOptions(i)
  local now, nowText = tonumber(ARGV[i]), ARGV[i]
  if nowText == "" then
    -- The server's clock, for a take sent before it runs: pipelined behind the marker wait,
    -- it runs when a job arrives, which the sender cannot know.
    local t = rcall("TIME")
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    nowText = int(now)
  end
  return {
    now = now,
    token = ARGV[i + 1],
    lockDuration = tonumber(ARGV[i + 2]),
    -- The same two as sent: a Lua number given to a Redis command is formatted with printf,
    -- which costs Redis more than the rest of such a call (seen in a profile of a batch).
    nowText = nowText,
    lockText = ARGV[i + 2],
    limMax = tonumber(ARGV[i + 3]),
    limDuration = tonumber(ARGV[i + 4]),
    name = ARGV[i + 5],
    fair = fairOption(ARGV[i + 6]),
  }
end
