--[[
  removeChildDependency: break the link between job `id` and its parent, as Node's
  `Job.removeChildDependency` (PROTOCOL.md §14.5, light mode), written for this project. The
  parent no longer waits for it; when it was the last pending child the parent goes to wait.

  KEYS[1]  queue base "prefix:name:" of the child
  ARGV[1]  child job id

  Returns 1 when the link was removed, 0 when there was none (no parent, or the child is no
  longer pending for it), -1 (no such job), -5 (its parent is gone).
  Events: waiting (prev = waiting-children) in the parent's queue when the parent is released.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"

local B = KEYS[1]
local jobKey = B .. ARGV[1]
if rcall("EXISTS", jobKey) == 0 then return -1 end
local f = rcall("HMGET", jobKey, "parentKey", "parent")
if not f[1] then return 0 end
if rcall("EXISTS", f[1]) == 0 then return -5 end
local pending = rcall("SISMEMBER", f[1] .. ":dependencies", jobKey) == 1
detachChild(B, jobKey, f[1], f[2], false)
rcall("HDEL", jobKey, "parentKey", "parent")
if pending then return 1 end
return 0
