--[[
  moveToWaitingChildren: an active job waits for its children (PROTOCOL.md §12.19). When a child
  (or, without one named, any child) is still pending, the job leaves active for the
  waiting-children set and its lock is released; the last child to finish moves it on.

  KEYS[1]  queue base "prefix:name:"
  ARGV[1]  job id   ARGV[2] token   ARGV[3] now (ms)   ARGV[4] child key to wait for, or ""

  Returns 0 (moved), 1 (nothing pending: the job stays active), or -1, -2, -3, -6, -9.
  Events: waiting-children (prev=active).
]]
--@include "includes/base.lua"
--@include "includes/lock.lua"

local B = KEYS[1]
local id, token, now, child = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local jobKey = B .. id

if rcall("EXISTS", jobKey) == 0 then return dropGone(B, id, token) end
if rcall("ZCARD", jobKey .. ":unsuccessful") ~= 0 then return -9 end
if child ~= "" then
  if rcall("SISMEMBER", jobKey .. ":dependencies", child) == 0 then return 1 end
elseif rcall("SCARD", jobKey .. ":dependencies") == 0 then
  return 1
end
local released = releaseLock(B, id, token)
if released < 0 then return released end
if rcall("LREM", B .. "active", 1, id) == 0 then return -3 end
rcall("ZADD", B .. "waiting-children", now, id)
emit(B, eventsCap(B), "event", "waiting-children", "jobId", id, "prev", "active")
return 0
