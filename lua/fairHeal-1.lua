--[[
  fairHeal: the upkeep of a fair group's index (includes/fair.lua), run with every stalled check
  of a worker of the group.
  1. Tenants in `busy` with no active job leave it; the others are returned, for their stalled
     checks.
  2. The next `chunk` tenants of the group's list (a cursor goes round it) are checked: one with
     ready jobs, not paused, that is missing from the index (its jobs were added by a client
     that does not keep the index, such as a Node producer) is pointed at again, as is one with
     delayed jobs only. A pointer to a tenant with nothing costs a take one look, so pointers
     are never removed here.

  KEYS[1]  the group's base "prefix:G:"
  ARGV[1]  the tenant queues' base prefix "prefix:G."   ARGV[2] chunk (tenants per call)

  Returns { repaired, { busy tenant 1, busy tenant 2, ... } }.
  Events: none.
]]
--@include "includes/base.lua"

local GB, TP, chunk = KEYS[1], ARGV[1], tonumber(ARGV[2])
local busy = {}
local out = { 0, busy }
for _, T in ipairs(rcall("SMEMBERS", GB .. "busy")) do
  if rcall("LLEN", TP .. T .. ":active") == 0 then
    rcall("SREM", GB .. "busy", T)
  else
    busy[#busy + 1] = T
  end
end

local total = rcall("ZCARD", GB .. "tenants")
if total == 0 then return out end
local from = tonumber(rcall("GET", GB .. "heal")) or 0
if from >= total then from = 0 end
local tenants = rcall("ZRANGE", GB .. "tenants", from, from + chunk - 1)
rcall("SET", GB .. "heal", int(from + #tenants))
for _, T in ipairs(tenants) do
  if not rcall("ZSCORE", GB .. "ready", T) then
    local B = TP .. T .. ":"
    if hasReady(B) and not isBlocked(B) then
      rcall("ZADD", GB .. "ready", "0", T)
      rcall("ZADD", GB .. "marker", "0", "0")
      out[1] = out[1] + 1
    else
      local first = rcall("ZRANGE", B .. "delayed", 0, 0, "WITHSCORES")
      if first[2] then
        rcall("ZADD", GB .. "ready", int(delayedPointer(first[2])), T)
        out[1] = out[1] + 1
      end
    end
  end
end
return out
