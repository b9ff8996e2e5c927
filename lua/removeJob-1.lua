--[[
  removeJob: remove a job (and optionally its children, in any queue) unless it or one of them is
  locked (PROTOCOL.md §12.13). The parent of a removed child is released when it was its last
  pending child.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] "1" to remove children too

  Returns 1 (removed, or nothing to remove), 0 (a job is locked: nothing removed), -8 (the job is
  the current iteration of a job scheduler).
  Events: removed (prev = the state it was in, or "unknown"); waiting (prev=waiting-children)
  for a released parent.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local id, withChildren = ARGV[1], ARGV[2] == "1"
if isCurrentIteration(B, id) then return -8 end

local function childrenOf(jobKey)
  local keys = {}
  for _, k in ipairs(rcall("HKEYS", jobKey .. ":processed")) do keys[#keys + 1] = k end
  for _, k in ipairs(rcall("HKEYS", jobKey .. ":failed")) do keys[#keys + 1] = k end
  for _, k in ipairs(rcall("ZRANGE", jobKey .. ":unsuccessful", 0, -1)) do keys[#keys + 1] = k end
  for _, k in ipairs(rcall("SMEMBERS", jobKey .. ":dependencies")) do keys[#keys + 1] = k end
  return keys
end

local locked
locked = function(jobKey)
  if rcall("EXISTS", jobKey .. ":lock") == 1 then return true end
  if withChildren then
    for _, child in ipairs(childrenOf(jobKey)) do
      if locked(child) then return true end
    end
  end
  return false
end
if locked(B .. id) then return 0 end

local removeTree
removeTree = function(jB, jid, detach)
  local jobKey = jB .. jid
  local f = rcall("HMGET", jobKey, "parentKey", "parent", "deid")
  if detach then detachChild(jB, jobKey, f[1], f[2], false) end
  if withChildren then
    for _, child in ipairs(childrenOf(jobKey)) do
      local cB, cid = splitJobKey(child, nil)
      -- The children's link to this job needs no cleanup: this job goes too.
      if cB then removeTree(cB, cid, false) end
    end
  end
  local prev = unlistJob(jB, jid)
  releaseDedupOwner(jB, jid, f[3])
  local existed = rcall("EXISTS", jobKey) == 1
  deleteJobKeys(jobKey)
  if existed then
    emit(jB, eventsCap(jB), "event", "removed", "jobId", jid, "prev", prev)
  end
end
removeTree(B, id, true)
return 1
