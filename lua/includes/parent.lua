--[[
  What a finishing child does to its parent (PROTOCOL.md §14.3, §14.4). Needs includes/base.lua.
]]

-- A parent whose children let it go: back to its queue, honouring its own delay and priority.
local function releaseParent(pB, pid, now)
  local parentKey = pB .. pid
  -- `cv`: the take of this job reads its children's values with it (fetch.lua), so its
  -- processor need not ask Redis for them (BullMQ ignores the field).
  rcall("HSET", parentKey, "cv", "1")
  local f = rcall("HMGET", parentKey, "delay", "priority")
  local delay, priority = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if delay > 0 then
    local due = now + delay
    rcall("ZADD", pB .. "delayed", due * 4096, pid)
    emit(pB, false, "event", "delayed", "jobId", pid, "delay", due)
    markNextDelayed(pB)
  else
    local blocked = isBlocked(pB)
    if priority > 0 then
      pushPrioritized(pB, pid, priority, blocked)
    else
      pushWait(pB, pid, "RPUSH", blocked)
    end
  end
  emit(pB, eventsCap(pB), "event", "waiting", "jobId", pid, "prev", "waiting-children")
end

-- Release the parent if it exists, waits for children and none is pending (or `force`).
local function releaseParentIfDone(pB, pid, now, force)
  local parentKey = pB .. pid
  if not force and rcall("SCARD", parentKey .. ":dependencies") ~= 0 then return end
  if rcall("EXISTS", parentKey) == 1 and rcall("ZREM", pB .. "waiting-children", pid) == 1 then
    releaseParent(pB, pid, now)
  end
end

-- The child `childKey` finished with `target` ("completed" with `value` = its return value JSON,
-- or "failed" with `value` = its failed reason, final failure only).
local function notifyParent(childKey, parentKey, parentJson, target, value, now)
  local pB, pid = splitJobKey(parentKey, parentJson)
  local deps = parentKey .. ":dependencies"
  if target == "completed" then
    if rcall("SREM", deps, childKey) == 1 then
      rcall("HSET", parentKey .. ":processed", childKey, value)
      releaseParentIfDone(pB, pid, now, false)
    end
    return
  end
  local flags = {}
  if parentJson then
    local ok, p = pcall(cjson.decode, parentJson)
    if ok and type(p) == "table" then flags = p end
  end
  if not (flags.fpof or flags.cpof or flags.idof or flags.rdof) then return end
  if rcall("SREM", deps, childKey) == 0 then return end
  if flags.fpof then
    rcall("ZADD", parentKey .. ":unsuccessful", now, childKey)
    if rcall("EXISTS", parentKey) == 1 then
      local waiting = rcall("ZREM", pB .. "waiting-children", pid) == 1
      if not waiting and rcall("ZREM", pB .. "delayed", pid) == 1 then
        rcall("HSET", parentKey, "delay", 0)
        waiting = true
      end
      if waiting then
        rcall("HSET", parentKey, "defa", "child " .. childKey .. " failed")
        releaseParent(pB, pid, now)
      elseif not rcall("ZSCORE", pB .. "failed", pid) then
        rcall("HSET", parentKey, "defa", "child " .. childKey .. " failed")
      end
    end
  elseif flags.cpof then
    rcall("HSET", parentKey .. ":failed", childKey, value)
    releaseParentIfDone(pB, pid, now, true)
  elseif flags.idof then
    rcall("HSET", parentKey .. ":failed", childKey, value)
    releaseParentIfDone(pB, pid, now, false)
  else
    releaseParentIfDone(pB, pid, now, false)
  end
end
