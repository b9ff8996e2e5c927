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
  Events: completed | failed (prev=active), retries-exhausted, drained; and those of parent
  release, dedup re-queue and fetch-next.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/lock.lua"
--@include "includes/fetch.lua"
--@include "includes/parent.lua"

local B = KEYS[1]
local id, target, value = ARGV[1], ARGV[2], ARGV[3]
local fetch = ARGV[4] == "1"
local keepCount = tonumber(ARGV[5])
local keepAge, keepLimit = tonumber(ARGV[6]), tonumber(ARGV[7]) or 1000
local attempts, maxMetrics, stacktrace = tonumber(ARGV[8]) or 0, tonumber(ARGV[9]), ARGV[10]
local o = fetchOptions(11)
local now = o.now
local jobKey = B .. id

if rcall("EXISTS", jobKey) == 0 then return -1 end
if target == "completed" then
  if rcall("SCARD", jobKey .. ":dependencies") ~= 0 then return -4 end
  if rcall("ZCARD", jobKey .. ":unsuccessful") ~= 0 then return -9 end
end
local released = releaseLock(B, id, o.token)
if released < 0 then return released end
if stacktrace ~= "" then rcall("HSET", jobKey, "stacktrace", stacktrace) end
local f = rcall("HMGET", jobKey, "parentKey", "parent", "deid")
if rcall("LREM", B .. "active", -1, id) == 0 then return -3 end

local cap = eventsCap(B)
rcall("XTRIM", B .. "events", "MAXLEN", "~", cap)

-- Deduplication: free the key unless a throttle window still runs, then run the kept "next" job.
local deid = f[3]
if deid then
  local dedupKey = B .. "de:" .. deid
  local pttl = rcall("PTTL", dedupKey)
  if pttl == 0 or (pttl == -1 and rcall("GET", dedupKey) == id) then rcall("DEL", dedupKey) end
  local nextKey = B .. "dn:" .. deid
  if rcall("EXISTS", nextKey) == 1 then
    local n = rcall("HGETALL", nextKey)
    local p = {}
    for i = 1, #n, 2 do p[n[i]] = n[i + 1] end
    local counter = rcall("INCR", B .. "id")
    local nid = p.jid or tostring(counter)
    local ok, nopts = pcall(cjson.decode, p.opts or "{}")
    if not ok or type(nopts) ~= "table" then nopts = {} end
    local de = type(nopts.de) == "table" and nopts.de or {}
    local ttl = tonumber(de.ttl)
    if ttl and ttl > 0 and not de.keepLastIfActive then
      rcall("SET", dedupKey, nid, "PX", ttl)
    else
      rcall("SET", dedupKey, nid)
    end
    storeAndEnqueue(B, { id = nid, name = p.name or "", data = p.data or "{}", opts = p.opts or "{}", ts = now,
      delay = tonumber(nopts.delay) or 0, priority = tonumber(nopts.priority) or 0, lifo = nopts.lifo == true,
      parentKey = p.pk, parentJson = p.pd, rjk = p.rjk, deid = deid }, cap, isBlocked(B))
    rcall("DEL", nextKey)
  end
end

if f[1] then notifyParent(jobKey, f[1], f[2], target, value, now) end

local atm = rcall("HINCRBY", jobKey, "atm", 1)
local prop = target == "completed" and "returnvalue" or "failedReason"

if keepCount ~= 0 then
  local set = B .. target
  rcall("ZADD", set, now, id)
  rcall("HSET", jobKey, prop, value, "finishedOn", now)
  if target == "failed" then rcall("HDEL", jobKey, "defa") end
  if keepAge then
    local old = rcall("ZRANGEBYSCORE", set, "-inf", now - keepAge * 1000, "LIMIT", 0, keepLimit)
    for _, oid in ipairs(old) do
      purgeJob(B, oid, false, true)
      rcall("ZREM", set, oid)
    end
  end
  if keepCount > 0 then
    local old = rcall("ZREVRANGE", set, keepCount, keepCount + keepLimit - 1)
    for _, oid in ipairs(old) do
      purgeJob(B, oid, false, true)
      rcall("ZREM", set, oid)
    end
  end
else
  purgeJob(B, id, false, true)
end

emit(B, false, "event", target, "jobId", id, prop, value, "prev", "active")
if target == "failed" and atm >= attempts then
  emit(B, false, "event", "retries-exhausted", "jobId", id, "attemptsMade", atm)
end

-- Per-minute metrics (§18): count before this job, data points pushed per elapsed minute.
if maxMetrics then
  local metricsKey = B .. "metrics:" .. target
  local count = rcall("HINCRBY", metricsKey, "count", 1) - 1
  local prev = rcall("HMGET", metricsKey, "prevTS", "prevCount")
  if not prev[1] then
    rcall("HSET", metricsKey, "prevTS", now, "prevCount", 0)
  else
    local minutes = math.min(math.floor(now / 60000) - math.floor(tonumber(prev[1]) / 60000), maxMetrics)
    if minutes > 0 then
      rcall("LPUSH", metricsKey .. ":data", count - (tonumber(prev[2]) or 0))
      -- Zeros for the minutes with no finish, in chunks (Lua's unpack has a stack limit).
      local zeros = minutes - 1
      while zeros > 0 do
        local chunk = {}
        for i = 1, math.min(zeros, 1000) do chunk[i] = 0 end
        rcall("LPUSH", metricsKey .. ":data", unpack(chunk))
        zeros = zeros - #chunk
      end
      rcall("LTRIM", metricsKey .. ":data", 0, maxMetrics - 1)
      rcall("HSET", metricsKey, "prevCount", count, "prevTS", now)
    end
  end
end

if fetch then
  local reply = fetchNext(B, o)
  if reply[1] ~= 0 or reply[3] > 0 or reply[4] > 0 or o.blocked then return reply end
end
if rcall("LLEN", B .. "wait") == 0 and rcall("LLEN", B .. "active") == 0
    and rcall("ZCARD", B .. "prioritized") == 0 then
  emit(B, false, "event", "drained")
end
return 0
