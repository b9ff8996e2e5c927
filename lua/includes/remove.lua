--[[
  Removing jobs (PROTOCOL.md §12.13, §14.5, §16.4). Needs includes/base.lua.
]]

-- Delete a job's hash and its sub-keys. The lock is left to expire.
local function deleteJobKeys(jobKey)
  rcall("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
    jobKey .. ":failed", jobKey .. ":unsuccessful")
end

-- Release the dedup key if this job owns it (and drop its pending "next" payload).
local function releaseDedupOwner(B, id, deid)
  if deid then
    local key = B .. "de:" .. deid
    if rcall("GET", key) == id then
      rcall("DEL", key, B .. "dn:" .. deid)
    end
  end
end

-- A child is going away: take it out of its parent's pending dependencies. When that was the
-- last one and the parent waits for children, the parent is released to its queue's wait list;
-- in `hard` mode (drain, clean, obliterate) a parent in the same queue is deleted instead, and
-- its own parent link resolved the same way.
local detachChild
detachChild = function(B, childKey, parentKey, parentJson, hard)
  if not parentKey or rcall("EXISTS", parentKey) == 0 then return end
  local deps = parentKey .. ":dependencies"
  if rcall("SREM", deps, childKey) == 1 and rcall("SCARD", deps) == 0 then
    local pB, pid = splitJobKey(parentKey, parentJson)
    if rcall("ZREM", pB .. "waiting-children", pid) == 1 then
      if hard and pB == B then
        local up = rcall("HMGET", parentKey, "parentKey", "parent")
        detachChild(pB, parentKey, up[1], up[2], true)
        deleteJobKeys(parentKey)
      else
        rcall("RPUSH", pB .. "wait", pid)
        wakeWorkers(pB, isBlocked(pB))
        if not hard then
          emit(pB, eventsCap(pB), "event", "waiting", "jobId", pid, "prev", "waiting-children")
        end
      end
    end
  end
end

-- Remove a job that is no longer referenced by any state structure: parent link, dedup
-- ownership (unless `keepDedup`, as retention trimming does) and keys.
local function purgeJob(B, id, hard, keepDedup)
  local jobKey = B .. id
  local f = rcall("HMGET", jobKey, "parentKey", "parent", "deid")
  detachChild(B, jobKey, f[1], f[2], hard)
  if not keepDedup then releaseDedupOwner(B, id, f[3]) end
  deleteJobKeys(jobKey)
end

-- Takes the id out of whichever state holds it; returns the state's name.
local function unlistJob(jB, jid)
  for _, z in ipairs({ "completed", "waiting-children", "delayed", "failed", "prioritized" }) do
    if rcall("ZREM", jB .. z, jid) == 1 then return z end
  end
  for _, l in ipairs({ "wait", "paused", "active" }) do
    if rcall("LREM", jB .. l, 0, jid) > 0 then return l end
  end
  return "unknown"
end
