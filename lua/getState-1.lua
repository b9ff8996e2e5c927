--[[
  getState: the state of a job, checked atomically in BullMQ's order (PROTOCOL.md §12.17).

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id

  Returns completed | failed | delayed | prioritized | active | waiting | waiting-children |
  unknown (a job in a legacy 5.x `paused` list is waiting). Events: none.
]]
--@include "includes/base.lua"

return stateOf(KEYS[1], ARGV[1]) or "unknown"
