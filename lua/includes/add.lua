--[[
  Adding one job: a custom id that exists already, and deduplication (PROTOCOL.md §12.1.3,
  §12.1.4); adding a batch of jobs (addBatch). Shared by addJobs, addFlow and transaction. Needs
  includes/base.lua, includes/remove.lua and (for addBatch) includes/store.lua.
]]

-- Custom id already taken (PROTOCOL.md §12.1.3).
local function addDuplicate(B, cap, id, parentKey, parentJson, defer)
  local jobKey = B .. id
  if parentKey ~= "" then
    local current = rcall("HGET", jobKey, "parentKey")
    if current and current ~= parentKey and rcall("EXISTS", current) == 1 then
      return -7
    end
    if rcall("ZSCORE", B .. "completed", id) then
      local rv = rcall("HGET", jobKey, "returnvalue") or "null"
      rcall("HSET", parentKey .. ":processed", jobKey, rv)
      -- A flow releases its parents once the whole tree is in place (`defer`).
      if not defer and rcall("SCARD", parentKey .. ":dependencies") == 0 then
        local pB, pid = splitJobKey(parentKey, parentJson)
        if rcall("ZREM", pB .. "waiting-children", pid) == 1 then
          rcall("RPUSH", pB .. "wait", pid)
          wakeWorkers(pB, isBlocked(pB))
          emit(pB, eventsCap(pB), "event", "waiting", "jobId", pid, "prev", "waiting-children")
        end
      end
    else
      rcall("SADD", parentKey .. ":dependencies", jobKey)
    end
    rcall("HSET", jobKey, "parentKey", parentKey, "parent", parentJson)
  end
  emit(B, cap, "event", "duplicated", "jobId", id)
  return id
end

-- Set the dedup key to `id` with the TTL rules of the mode.
local function claimDedup(key, id, de, ttl)
  if ttl and not de.keepLastIfActive then
    rcall("SET", key, id, "PX", ttl)
  else
    rcall("SET", key, id)
  end
end

-- Returns the owner id when the add is deduplicated (nothing must be stored), or nil.
local function deduplicate(B, cap, de, id, name, ts, data, opts, delay, parentKey, parentJson, rjk)
  local did = tostring(de.id)
  local key = B .. "de:" .. did
  local ttl = tonumber(de.ttl)
  if ttl and ttl <= 0 then ttl = nil end
  local owner = rcall("GET", key)
  -- A key without expiry whose owner vanished is stale: the incoming job becomes the owner.
  if owner and rcall("PTTL", key) == -1 and rcall("EXISTS", B .. owner) == 0 then
    rcall("DEL", key, B .. "dn:" .. did)
    owner = false
  end
  if not owner then
    claimDedup(key, id, de, ttl)
    return nil
  end

  local function announce()
    emit(B, cap, "event", "deduplicated", "jobId", owner, "deduplicationId", did,
      "deduplicatedJobId", id)
  end
  local function keepLast()
    if de.keepLastIfActive and rcall("LPOS", B .. "active", owner) then
      local dn = B .. "dn:" .. did
      rcall("DEL", dn)
      rcall("HSET", dn, "name", name, "data", data, "opts", opts, "jid", id)
      if parentKey ~= "" then
        rcall("HSET", dn, "pk", parentKey, "pd", parentJson, "pdk", parentKey .. ":dependencies")
      end
      if rjk ~= "" then rcall("HSET", dn, "rjk", rjk) end
      rcall("PERSIST", key)
      return true
    end
    return false
  end

  if de.replace then
    if rcall("ZSCORE", B .. "delayed", owner) then
      rcall("ZREM", B .. "delayed", owner)
      purgeJob(B, owner, false, true)
      rcall("DEL", B .. "dn:" .. did)
      emit(B, cap, "event", "removed", "jobId", owner, "prev", "delayed")
      if de.keepLastIfActive then
        rcall("SET", key, id)
      elseif ttl and not de.extend then
        rcall("SET", key, id, "KEEPTTL")
      elseif ttl then
        rcall("SET", key, id, "PX", ttl)
      else
        rcall("SET", key, id)
      end
      emit(B, cap, "event", "deduplicated", "jobId", id, "deduplicationId", did,
        "deduplicatedJobId", owner)
      return nil
    end
    if keepLast() then announce() end
    return owner
  end

  if keepLast() then
    announce()
    return owner
  end
  if ttl and de.extend and not de.keepLastIfActive then
    rcall("SET", key, owner, "PX", ttl)
  end
  if de.reschedule and rcall("ZSCORE", B .. "delayed", owner) then
    rcall("HSET", B .. owner, "delay", delay)
    rcall("ZREM", B .. "delayed", owner)
    scheduleDelayed(B, owner, ts + delay, cap)
  end
  announce()
  return owner
end

-- The highest id generated in the queue B so far, as its counter(s) say. A fair tenant's
-- generated ids (`group`, its group's base) are above both the group's counter (unique across
-- the group's adds) and the tenant queue's own, which other clients INCR (a Node producer
-- adding without job ids) and which `takeIds` keeps at the last id it gave: no generated id is
-- ever one already used in the tenant's queue.
local function idTop(B, group)
  local top = tonumber(rcall("GET", B .. "id")) or 0
  if group then top = math.max(top, tonumber(rcall("GET", group .. "id")) or 0) end
  return top
end

-- Reserves `n` generated ids for queue B; returns the last (the first is it - n + 1).
local function takeIds(B, group, n)
  if not group then return rcall("INCRBY", B .. "id", n) end
  local last = idTop(B, group) + n
  rcall("SET", B .. "id", last)
  rcall("SET", group .. "id", last)
  return last
end

-- Adds the `n` jobs whose fields (12 each, laid out as in addJobs-1.lua) start at argv[first]:
-- one read of meta, one reservation of the generated ids, then each job stored, deduplicated or
-- found a duplicate, and the markers set once. `refused[i]` (i from 0) marks a job refused
-- already (-5, nothing written for it). Returns one entry per job: its id (new, the existing
-- duplicate, or the dedup owner), -5, or -7 (custom id owned by another live parent).
local function addBatch(B, argv, first, n, refused)
  local meta = rcall("HMGET", B .. "meta", "opts.maxLenEvents", "paused", "concurrency", "fair.group", "fair.tenant")
  fairHintSet(B, meta[4], meta[5])
  local cap = eventsCap(B, meta[1] or nil)
  local blocked = blockedBy(B, meta[2], meta[3])
  -- Job i gets the value the i-th of n INCRs would have given (a fair tenant's: see idTop).
  local lastCounter = takeIds(B, meta[4] or nil, n)
  local batch = newBatch()
  local out = {}
  for i = 0, n - 1 do
    local a = first + i * 12
    local customId, name, ts, data, opts = argv[a], argv[a + 1], tonumber(argv[a + 2]), argv[a + 3], argv[a + 4]
    local delay, priority, lifo = tonumber(argv[a + 5]), tonumber(argv[a + 6]), argv[a + 7] == "1"
    local deJson, parentKey, parentJson, rjk = argv[a + 8], argv[a + 9], argv[a + 10], argv[a + 11]
    local id = customId
    if id == "" then id = tostring(lastCounter - n + 1 + i) end
    local result
    if refused[i] then
      result = -5
    elseif customId ~= "" and rcall("EXISTS", B .. id) == 1 then
      result = addDuplicate(B, cap, id, parentKey, parentJson, false)
    else
      local de = nil
      if deJson ~= "" then de = cjson.decode(deJson) end
      local owner = nil
      if de then owner = deduplicate(B, cap, de, id, name, ts, data, opts, delay, parentKey, parentJson, rjk) end
      if owner then
        result = owner
      else
        storeAndEnqueue(B, { id = id, name = name, data = data, opts = opts, ts = ts, delay = delay,
          priority = priority, lifo = lifo, parentKey = parentKey, parentJson = parentJson, rjk = rjk,
          deid = de and tostring(de.id) or nil }, cap, blocked, batch)
        result = id
      end
    end
    out[i + 1] = result
  end
  flushBatch(B, batch, blocked)
  fairHintClear()
  return out
end
