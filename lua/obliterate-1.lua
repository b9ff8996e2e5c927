--[[
  obliterate: delete a paused queue and all its jobs, in batches (PROTOCOL.md §12.12).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  batch size (jobs per call)   ARGV[2] "force" to delete active jobs too

  Returns 1 when the batch was used up (call again), 0 when the queue is gone, -1 when the queue
  is not paused, -2 when it has active jobs and force was not given.
  Events: none (the stream itself is deleted).
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"

local B = KEYS[1]
local budget = tonumber(ARGV[1])
if rcall("HEXISTS", B .. "meta", "paused") == 0 then return -1 end
if ARGV[2] ~= "force" and rcall("LLEN", B .. "active") > 0 then return -2 end

local function fromList(key, locks)
  local ids = rcall("LRANGE", key, 0, budget - 1)
  for _, id in ipairs(ids) do
    if locks then rcall("DEL", B .. id .. ":lock") end
    purgeJob(B, id, true, false)
  end
  rcall("LTRIM", key, #ids, -1)
  budget = budget - #ids
end

local function fromZset(key)
  local ids = rcall("ZRANGE", key, 0, budget - 1)
  for _, id in ipairs(ids) do purgeJob(B, id, true, false) end
  if #ids > 0 then rcall("ZREM", key, unpack(ids)) end
  budget = budget - #ids
end

local function schedulers()
  local ids = rcall("ZRANGE", B .. "repeat", 0, budget - 1)
  for _, id in ipairs(ids) do rcall("DEL", B .. "repeat:" .. id) end
  if #ids > 0 then rcall("ZREM", B .. "repeat", unpack(ids)) end
  budget = budget - #ids
end

local steps = {
  function() fromList(B .. "active", true) end,
  function() fromZset(B .. "delayed") end,
  schedulers,
  function() fromZset(B .. "completed") end,
  function() fromList(B .. "wait", false) end,
  function() fromList(B .. "paused", false) end,
  function() fromZset(B .. "prioritized") end,
  function() fromZset(B .. "failed") end,
  function() fromZset(B .. "waiting-children") end,
}
for _, step in ipairs(steps) do
  step()
  if budget <= 0 then return 1 end
end
rcall("DEL", B .. "events", B .. "delay", B .. "stalled-check", B .. "stalled", B .. "id", B .. "pc",
  B .. "marker", B .. "meta", B .. "metrics:completed", B .. "metrics:completed:data",
  B .. "metrics:failed", B .. "metrics:failed:data", B .. "limiter")
return 0
