--[[
  Recognising the current iteration of a job scheduler (PROTOCOL.md §15.7). Needs base.lua.
]]

-- The set of current iteration ids ("repeat:<scheduler>:<slot>").
local function currentIterations(B)
  local keep = {}
  local all = rcall("ZRANGE", B .. "repeat", 0, -1, "WITHSCORES")
  for i = 1, #all, 2 do
    keep["repeat:" .. all[i] .. ":" .. all[i + 1]] = true
  end
  return keep
end

-- True when `id` is the pending iteration of its scheduler.
local function isCurrentIteration(B, id)
  local rjk = rcall("HGET", B .. id, "rjk")
  if not rjk then return false end
  local slot = rcall("ZSCORE", B .. "repeat", rjk)
  return slot ~= false and id == "repeat:" .. rjk .. ":" .. slot
end
