--[[
  Finishing one active job (PROTOCOL.md §12.3): checks, lock release, dedup release and the kept
  "next" job, parent notification, retention, the completed/failed event and metrics. Shared by
  moveToFinished (one job) and finishMany (a batch). Needs base, remove, store, lock, parent.
]]

-- The HMGET reply of a job with no parent link and no deduplication id (see finishReleased).
local NO_LINKS = { false, false, false, false }

-- Reads one job's finish arguments from ARGV starting at index `i`: id, target, value, keep
-- count, keep age, keep limit, attempts, metrics max data points, stacktrace.
local function finishArgs(i)
  return {
    id = ARGV[i], target = ARGV[i + 1], value = ARGV[i + 2], keepCount = tonumber(ARGV[i + 3]),
    keepAge = tonumber(ARGV[i + 4]), keepLimit = tonumber(ARGV[i + 5]) or 1000,
    attempts = tonumber(ARGV[i + 6]) or 0, maxMetrics = tonumber(ARGV[i + 7]), stacktrace = ARGV[i + 8],
  }
end

-- What must hold before job `a.id`, held under `token`, may finish: 0, or -1 (no job: its id
-- leaves active, see dropGone), -4 (pending children), -9 (failed children).
local function finishChecks(B, a, token)
  local jobKey = B .. a.id
  if rcall("EXISTS", jobKey) == 0 then return dropGone(B, a.id, token) end
  if a.target == "completed" then
    if rcall("SCARD", jobKey .. ":dependencies") ~= 0 then return -4 end
    if rcall("ZCARD", jobKey .. ":unsuccessful") ~= 0 then return -9 end
  end
  return 0
end

-- The active key of the queue finished in last (as emit's events key).
local activeBase, activeKey

-- The rest of a finish, once the checks passed and the lock was released: returns 0 or -3 (not
-- active). `cap` is the events cap (the caller trims the stream once per call); `nowText` is
-- `now` as sent (see fetchOptions). The job's own finish time, when the caller sent one
-- (`a.finishedAt`, ms with a sub-ms fraction, and `a.finishedOn`, its whole ms), is written in
-- place of `now`: jobs finished in one batch keep the order and times they really finished in. With `batch` ({zadd = {}, del = {}}), plain additions to a
-- finished set and plain key deletions are collected there for the caller to do in one call
-- each (finishBatchWrites) once every job of the batch is through; `batch.noChildren` says no
-- job of the batch has a dependencies or unsuccessful set.
local function finishReleased(B, a, now, cap, nowText, batch)
  local id, target, value = a.id, a.target, a.value
  local keepCount, keepAge, keepLimit = a.keepCount, a.keepAge, a.keepLimit
  local attempts, maxMetrics, stacktrace = a.attempts, a.maxMetrics, a.stacktrace
  local jobKey = a.jobKey or B .. id
  if stacktrace ~= "" then rcall("HSET", jobKey, "stacktrace", stacktrace) end
  -- `a.atm` (finishMany): the caller read the hash when it took the job and found no parent link
  -- and no deduplication id (neither is ever added later) and sends atm + 1, so nothing needs
  -- reading here. It holds the lock, so nobody else changed atm meanwhile.
  local f = a.atm and NO_LINKS or rcall("HMGET", jobKey, "parentKey", "parent", "deid", "atm")
  if B ~= activeBase then activeBase, activeKey = B, B .. "active" end
  if rcall("LREM", activeKey, "-1", id) == 0 then return -3 end

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

  -- atm counted with the other writes (one call fewer than HINCRBY; nothing else touches it
  -- in between, the script being atomic). A job removed at once needs no write at all.
  local atm = a.atm or int((tonumber(f[4]) or 0) + 1)
  local prop = target == "completed" and "returnvalue" or "failedReason"

  if keepCount ~= 0 then
    local set = B .. target
    if batch and keepCount < 0 and not keepAge then
      -- Kept with no trimming: nothing below reads the set, so the batch adds it in one call.
      local z = batch.zadd[set] or {}
      batch.zadd[set] = z
      z[#z + 1] = a.finishedAt or nowText
      z[#z + 1] = id
    else
      -- Trimming reads the set: first add what the batch holds back for it, in order.
      if batch and batch.zadd[set] then
        rcall("ZADD", set, unpack(batch.zadd[set]))
        batch.zadd[set] = nil
      end
      rcall("ZADD", set, a.finishedAt or nowText, id)
    end
    rcall("HSET", jobKey, prop, value, "finishedOn", a.finishedOn or nowText, "atm", atm)
    if target == "failed" then rcall("HDEL", jobKey, "defa") end
    if keepAge then
      local old = rcall("ZRANGEBYSCORE", set, "-inf", int(now - keepAge * 1000), "LIMIT", "0", int(keepLimit))
      for _, oid in ipairs(old) do
        purgeJob(B, oid, false, true)
        rcall("ZREM", set, oid)
      end
    end
    if keepCount > 0 then
      local old = rcall("ZREVRANGE", set, int(keepCount), int(keepCount + keepLimit - 1))
      for _, oid in ipairs(old) do
        purgeJob(B, oid, false, true)
        rcall("ZREM", set, oid)
      end
    end
  elseif f[1] then
    purgeJob(B, id, false, true)
  elseif batch then
    -- No parent link to resolve (and its dedup key was handled above): only keys to delete,
    -- which the batch deletes in one call.
    local d = batch.del
    d[#d + 1] = jobKey
    d[#d + 1] = jobKey .. ":logs"
    d[#d + 1] = jobKey .. ":processed"
    d[#d + 1] = jobKey .. ":failed"
    -- Known not to exist when the batch's checks found no job with children (`noChildren`).
    if not batch.noChildren then
      d[#d + 1] = jobKey .. ":dependencies"
      d[#d + 1] = jobKey .. ":unsuccessful"
    end
  else
    deleteJobKeys(jobKey)
  end

  emit(B, false, "event", target, "jobId", id, prop, value, "prev", "active")
  if target == "failed" and tonumber(atm) >= attempts then
    emit(B, false, "event", "retries-exhausted", "jobId", id, "attemptsMade", atm)
  end

  -- Per-minute metrics (§18): count before this job, data points pushed per elapsed minute.
  if maxMetrics then
    local metricsKey = B .. "metrics:" .. target
    local count = rcall("HINCRBY", metricsKey, "count", "1") - 1
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
  return 0
end

-- Finishes job `a.id` held under `token`. Returns 0 or a negative code: -1 (no job), -2 (no
-- lock), -3 (not active), -4 (pending children), -6 (lock held by another), -9 (failed
-- children).
local function finishJob(B, a, token, now, cap, nowText)
  local checked = finishChecks(B, a, token)
  if checked ~= 0 then return checked end
  local released = releaseLock(B, a.id, token)
  if released < 0 then return released end
  return finishReleased(B, a, now, cap, nowText)
end

-- The writes finishReleased collected in `batch`, one call each.
local function finishBatchWrites(batch)
  for set, z in pairs(batch.zadd) do
    rcall("ZADD", set, unpack(z))
  end
  if #batch.del > 0 then rcall("DEL", unpack(batch.del)) end
end
