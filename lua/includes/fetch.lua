--[[
  Promotion of due delayed jobs and "fetch next" (PROTOCOL.md §8.3, §12.2). Shared by the
  fetch, finish, delay and retry scripts. Needs includes/base.lua.
]]

-- Move up to 1000 delayed jobs whose due time is <= now to wait or prioritized.
local function promoteDue(B, now, blocked)
  local ids = rcall("ZRANGEBYSCORE", B .. "delayed", 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
  if #ids == 0 then return end
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
end

-- Take the next job for a worker. `o` holds now, token, lockDuration and the worker's optional
-- limiter (limMax, limDuration) and name. Replies {hash, id, 0, 0} with a job, {0, 0, ttl, 0}
-- when rate limited, {0, 0, 0, dueMs} with the next delayed due time (0: none), and sets
-- `o.blocked` when the queue is paused or maxed.
local function fetchNext(B, o)
  local meta = rcall("HMGET", B .. "meta", "paused", "concurrency", "max", "duration")
  local blocked = meta[1] ~= false
  if not blocked and meta[2] then
    blocked = rcall("LLEN", B .. "active") >= tonumber(meta[2])
  end
  o.blocked = blocked
  promoteDue(B, o.now, blocked)

  -- The queue's global max wins over the worker's; the worker's window wins over the queue's.
  local maxJobs = tonumber(meta[3]) or o.limMax
  local window = o.limDuration or tonumber(meta[4])
  local limiterKey = B .. "limiter"
  if maxJobs then
    local used = tonumber(rcall("GET", limiterKey))
    if used and used >= maxJobs then
      local ttl = rcall("PTTL", limiterKey)
      if ttl > 0 then return { 0, 0, ttl, 0 } end
      rcall("DEL", limiterKey)
    end
  end
  if blocked then return { 0, 0, 0, 0 } end

  local id = rcall("RPOPLPUSH", B .. "wait", B .. "active")
  -- Pre-v5 markers ("0:..."), if any, are dropped on the way.
  while id and string.sub(id, 1, 2) == "0:" do
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
    end
  end

  if id then
    local jobKey = B .. id
    if maxJobs and window and rcall("HEXISTS", jobKey, "defa") == 0 then
      if rcall("INCR", limiterKey) == 1 then
        rcall("PEXPIRE", limiterKey, math.floor(math.abs(window)))
      end
    end
    if o.token ~= "0" then
      rcall("SET", jobKey .. ":lock", o.token, "PX", o.lockDuration)
    end
    emit(B, false, "event", "active", "jobId", id, "prev", "waiting")
    if o.name and o.name ~= "" then
      rcall("HSET", jobKey, "processedOn", o.now, "pb", o.name)
    else
      rcall("HSET", jobKey, "processedOn", o.now)
    end
    rcall("HINCRBY", jobKey, "ats", 1)
    -- Always: other idle workers wake up and try for the jobs behind this one.
    rcall("ZADD", B .. "marker", 0, "0")
    return { rcall("HGETALL", jobKey), id, 0, 0 }
  end

  local next = rcall("ZRANGE", B .. "delayed", 0, 0, "WITHSCORES")
  if next[2] then return { 0, 0, 0, math.floor(tonumber(next[2]) / 4096) } end
  return { 0, 0, 0, 0 }
end

-- Reads the worker's fetch options from ARGV starting at index `i`:
-- now, token, lockDuration, limMax ("" = none), limDuration ("" = none), name.
local function fetchOptions(i)
  return {
    now = tonumber(ARGV[i]),
    token = ARGV[i + 1],
    lockDuration = tonumber(ARGV[i + 2]),
    limMax = tonumber(ARGV[i + 3]),
    limDuration = tonumber(ARGV[i + 4]),
    name = ARGV[i + 5],
  }
end
