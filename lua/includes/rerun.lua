--[[
  Re-running a finished child puts it back among its parent's pending dependencies (PROTOCOL.md
  §14.6). Needs base.lua.
]]
local function reattachToParent(jobKey, from)
  local parentKey = rcall("HGET", jobKey, "parentKey")
  if parentKey and rcall("EXISTS", parentKey) == 1 then
    if from == "completed" then
      rcall("HDEL", parentKey .. ":processed", jobKey)
    else
      rcall("ZREM", parentKey .. ":unsuccessful", jobKey)
      rcall("HDEL", parentKey .. ":failed", jobKey)
    end
    rcall("SADD", parentKey .. ":dependencies", jobKey)
  end
end
