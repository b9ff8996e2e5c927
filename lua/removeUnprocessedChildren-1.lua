--[[
  removeUnprocessedChildren: remove the children of job `id` that have not run, with their own
  unprocessed children, as Node's `Job.removeUnprocessedChildren`, written for this project.
  Children that are running (locked) or failed are kept; so are completed ones. A parent left
  with no pending child goes to wait, as after any removal of its last child.

  KEYS[1]  queue base "prefix:name:" of the parent
  ARGV[1]  parent job id

  Returns the number of jobs removed.
  Events: removed (prev = the state it was in) per job, in its queue; waiting (prev =
  waiting-children) for a released parent.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"

local removed = 0
local removeUnprocessed
removeUnprocessed = function(parentKey)
  for _, child in ipairs(rcall("SMEMBERS", parentKey .. ":dependencies")) do
    local cB, cid = splitJobKey(child, nil)
    if cB and rcall("EXISTS", child .. ":lock") == 0 and not rcall("ZSCORE", cB .. "failed", cid) then
      removeUnprocessed(child)
      local f = rcall("HMGET", child, "parentKey", "parent", "deid")
      detachChild(cB, child, parentKey, f[2], false)
      local prev = unlistJob(cB, cid)
      releaseDedupOwner(cB, cid, f[3])
      local existed = rcall("EXISTS", child) == 1
      deleteJobKeys(child)
      if existed then
        removed = removed + 1
        emit(cB, eventsCap(cB), "event", "removed", "jobId", cid, "prev", prev)
      end
    end
  end
end
removeUnprocessed(KEYS[1] .. ARGV[1])
return removed
