--[[
  Shared helpers for every script. `B` is always the queue base "prefix:name:" and every key of
  the queue is B .. suffix. Written for this project (see PROTOCOL.md §8-§10 for the effects).
]]
local rcall = redis.call

-- Integer `n` as text for a Redis argument. Redis 7.0 formats a Lua number argument with
-- printf's floating-point path ("%.17g"), several times the cost of "%d".
local function int(n)
  return string.format("%d", n)
end

-- The texts of small integers, formatted once: a take's token suffix and its `ats`, one or two
-- per job. Loaded as a function library, this table outlives the call (as emitKey below).
local smallInts = {}

-- int(n), remembered for 0 <= n < 1024.
local function intText(n)
  local s = smallInts[n]
  if s then return s end
  s = int(n)
  if n >= 0 and n < 1024 then smallInts[n] = s end
  return s
end

-- The events stream cap, creating the meta field with BullMQ's default when it is missing. As
-- text: it is only ever a MAXLEN argument. `read`: the field as the caller read it already.
local function eventsCap(B, read)
  local n = read or rcall("HGET", B .. "meta", "opts.maxLenEvents")
  if n then return int(tonumber(n) or 10000) end
  rcall("HSET", B .. "meta", "opts.maxLenEvents", "10000")
  return "10000"
end

-- The events key of the queue emitted into last: a script emits mostly into its own queue's
-- stream (two events per job in a batch), and comparing costs less than building the key.
local emitBase, emitKey

-- XADD an event; `cap` false means no MAXLEN (the events BullMQ adds untrimmed).
local function emit(B, cap, ...)
  if B ~= emitBase then emitBase, emitKey = B, B .. "events" end
  if cap then
    rcall("XADD", emitKey, "MAXLEN", "~", cap, "*", ...)
  else
    rcall("XADD", emitKey, "*", ...)
  end
end

-- isBlocked from `paused` and `concurrency` as already read from meta (false when missing).
local function blockedBy(B, paused, concurrency)
  if paused then return true end
  if concurrency then return rcall("LLEN", B .. "active") >= tonumber(concurrency) end
  return false
end

-- True when workers must not be woken: the queue is paused or its global concurrency is used up.
local function isBlocked(B)
  local m = rcall("HMGET", B .. "meta", "paused", "concurrency")
  return blockedBy(B, m[1], m[2])
end

-- Whether B has a job ready to take (in wait or prioritized).
local function hasReady(B)
  return rcall("LLEN", B .. "wait") > 0 or rcall("ZCARD", B .. "prioritized") > 0
end

-- A fair tenant's position in its group's index (see fairSignal) for a delayed job whose score
-- in the delayed set is `score`: its due ms, times 1024.
local function delayedPointer(score)
  return math.floor(tonumber(score) / 4096) * 1024
end

-- A tenant queue of a fair group (src/fair) has `fair.group` (the group's base "prefix:G:") and
-- `fair.tenant` in its meta. Its pointer in the group's index of tenants with work
-- (G:ready, QuiCK's pointer index) moves to `pos` (due ms * 1024; 0: ready now) when that is
-- earlier than where it is, and the group's marker wakes the group's idle workers. Called where
-- a queue's marker goes from unset to set and where its next delayed time is set, so every
-- script of ours that readies or delays a job keeps the index; a plain queue pays one HMGET.
-- What a script that read the fair fields of B's meta already knows (fairHintSet), so that
-- fairSignal need not read them again. Set and cleared by the same call (library state
-- outlives a call).
local fairHint = nil

local function fairHintSet(B, group, tenant)
  fairHint = { base = B, group = group, tenant = tenant }
end

local function fairHintClear()
  fairHint = nil
end

local function fairSignal(B, pos)
  local f
  if fairHint and fairHint.base == B then
    f = { fairHint.group, fairHint.tenant }
  else
    f = rcall("HMGET", B .. "meta", "fair.group", "fair.tenant")
  end
  if f[1] and rcall("ZADD", f[1] .. "ready", "LT", "CH", int(pos), f[2]) == 1 then
    if pos == 0 then
      rcall("ZADD", f[1] .. "marker", "0", "0")
    else
      rcall("ZADD", f[1] .. "marker", "LT", int(pos / 1024), "1")
    end
  end
end

-- Sets the marker that wakes the queue's idle workers (unless blocked). A marker that was not
-- there yet also moves a fair tenant's pointer to the front (fairSignal).
local function wakeWorkers(B, blocked)
  if not blocked and rcall("ZADD", B .. "marker", "0", "0") == 1 then fairSignal(B, 0) end
end

-- Ready job with priority 0: LPUSH = back of the line, RPUSH = served next.
local function pushWait(B, id, pushCmd, blocked)
  rcall(pushCmd, B .. "wait", id)
  wakeWorkers(B, blocked)
end

-- Prioritized job: lowest score first, insertion order within one priority.
local function pushPrioritized(B, id, priority, blocked)
  local seq = rcall("INCR", B .. "pc") % 4294967296
  rcall("ZADD", B .. "prioritized", priority * 4294967296 + seq, id)
  wakeWorkers(B, blocked)
end

-- A ready job goes to wait or prioritized by its priority field.
local function pushReady(B, id, priority, pushCmd, blocked)
  if priority and priority > 0 then
    pushPrioritized(B, id, priority, blocked)
  else
    pushWait(B, id, pushCmd, blocked)
  end
end

-- Delayed score: due*4096 plus a sequence so jobs due in the same ms keep FIFO order.
local function delayedScore(B, due)
  local low = due * 4096
  local last = rcall("ZREVRANGEBYSCORE", B .. "delayed", low + 4095, low, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    local s = tonumber(last[2])
    if s < low + 4095 then return s + 1 end
    return low + 4095
  end
  return low
end

-- Point the "1" marker at the earliest due time, so blocked workers wake when it is due.
local function markNextDelayed(B)
  local first = rcall("ZRANGE", B .. "delayed", 0, 0, "WITHSCORES")
  if first[2] then
    rcall("ZADD", B .. "marker", tonumber(first[2]) / 4096, "1")
    fairSignal(B, delayedPointer(first[2]))
  end
end

-- Put a job in delayed, due at the absolute ms `due`, and announce it.
local function scheduleDelayed(B, id, due, cap)
  rcall("ZADD", B .. "delayed", delayedScore(B, due), id)
  emit(B, cap, "event", "delayed", "jobId", id, "delay", due)
  markNextDelayed(B)
end

-- The state list or set holding a job, in BullMQ's getState order, or false.
local function stateOf(B, id)
  if rcall("ZSCORE", B .. "completed", id) then return "completed" end
  if rcall("ZSCORE", B .. "failed", id) then return "failed" end
  if rcall("ZSCORE", B .. "delayed", id) then return "delayed" end
  if rcall("ZSCORE", B .. "prioritized", id) then return "prioritized" end
  if rcall("LPOS", B .. "active", id) then return "active" end
  if rcall("LPOS", B .. "wait", id) then return "waiting" end
  if rcall("LPOS", B .. "paused", id) then return "waiting" end
  if rcall("ZSCORE", B .. "waiting-children", id) then return "waiting-children" end
  return false
end

-- Split a job key into its queue base and id, preferring the parent JSON when there is one
-- (ids may contain ':'; queue names may not).
local function splitJobKey(jobKey, parentJson)
  if parentJson then
    local ok, p = pcall(cjson.decode, parentJson)
    if ok and type(p) == "table" and p.id and p.queueKey then
      return p.queueKey .. ":", tostring(p.id)
    end
  end
  local base, id = string.match(jobKey, "^(.*:)([^:]+)$")
  return base, id
end
