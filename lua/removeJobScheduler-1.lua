--[[
  removeJobScheduler: remove scheduler `sid` (or a legacy repeatable entry of that key) and its
  pending iteration (PROTOCOL.md §15.7), written for this project. BullMQ removes the pending
  iteration only when it is delayed; one already due (in wait or prioritized) stayed and ran,
  and an upsert racing it could collide with it. Here an iteration that has not started is
  removed wherever it waits; one that is running finishes, and produces nothing.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  scheduler id (or legacy repeat key)

  Returns 1 when the scheduler existed, 0 when there was nothing to remove.
  Events: removed (prev = delayed | waiting | prioritized) for the pending iteration.
]]
--@include "includes/base.lua"
--@include "includes/remove.lua"
--@include "includes/store.lua"
--@include "includes/scheduler.lua"

local B = KEYS[1]
local sid = ARGV[1]
local zkey = B .. "repeat"
local slot = rcall("ZSCORE", zkey, sid)
if slot then
  local id = iterationId(sid, tonumber(slot))
  local state = stateOf(B, id)
  if (state == "delayed" or state == "prioritized" or state == "waiting") and removePendingIteration(B, id) then
    emit(B, eventsCap(B), "event", "removed", "jobId", id, "prev", state)
  end
end
if rcall("ZREM", zkey, sid) == 1 then
  rcall("DEL", B .. "repeat:" .. sid)
  return 1
end
return 0
