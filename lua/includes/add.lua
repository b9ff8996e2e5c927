--[[
  Adding one job: a custom id that exists already, and deduplication (PROTOCOL.md §12.1.3,
  §12.1.4). Shared by addJobs and addFlow. Needs includes/base.lua and includes/remove.lua.
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
